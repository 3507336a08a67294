# frozen_string_literal: true

require_relative "http"
require_relative "accounts"

module SeedApis
  # What the five APIs have in common: the store, the accounts, JSON answers, and a Rack
  # entry point that turns an unreadable body into the API's own 400.
  class Base
    def self.app
      new.rack_app
    end

    def rack_app
      router = Router.new(not_found: ->(_env) { not_found }, not_allowed: ->(_env) { not_allowed })
      routes(router)
      lambda do |env|
        router.call(env)
      rescue HTTP::BadRequest => e
        bad_request(e.message)
      end
    end

    private

    def store
      Storage.store
    end

    def accounts
      Accounts.current
    end

    # Every 401 carries the challenge of the API's own 401s (RFC 9110 15.5.2: a 401 must have
    # one), a failed login's too.
    def json(status, data, headers = {})
      if status == 401
        headers = { "www-authenticate" => Tessera::Rack::Authenticate.challenge(self.class::SEED) }.merge(headers)
      end
      HTTP.json(status, data, headers)
    end

    def params(env)
      HTTP.params(env)
    end

    def record(env)
      HTTP.record(env)
    end

    def not_found
      json(404, { error: "404 Not Found" })
    end

    def not_allowed
      json(405, { error: "405 Method Not Allowed" })
    end

    def bad_request(message)
      json(400, { error: message })
    end

    # A route handler: a Rack app calling the method +name+ with the env.
    def handler(name)
      method(name).to_proc
    end

    # ISO 8601 in UTC with milliseconds: 2020-05-07T19:49:34.213Z.
    def iso(time)
      time&.utc&.strftime("%Y-%m-%dT%H:%M:%S.%LZ")
    end

    # Unix time in milliseconds.
    def epoch_ms(time)
      time && (time.to_r * 1000).to_i
    end

    # A short label for a login session: the client's user agent, for "your devices" pages.
    def client_label(env)
      label_text(env["HTTP_USER_AGENT"], 120)
    end

    # +text+ as a label the store accepts: UTF-8 (invalid bytes dropped), control characters
    # turned into spaces, at most +max_bytes+ bytes cut at a character boundary; nil if empty.
    def label_text(text, max_bytes)
      s = text.to_s.dup.force_encoding(Encoding::UTF_8).scrub("").gsub(/[[:cntrl:]]/, " ").strip
      s = s.byteslice(0, max_bytes).scrub("").rstrip
      s.empty? ? nil : s
    end
  end
end
