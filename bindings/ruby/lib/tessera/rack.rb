# frozen_string_literal: true

require "json"
require_relative "../tessera"

module Tessera
  module Rack
    # Rack middleware that lets a request through only with a valid tessera token.
    #
    #   # config.ru
    #   require "tessera/rack"
    #   use Tessera::Rack::Authenticate,
    #       store: -> { Tessera::Store.open("tokens.redb", concurrency: :multi_process) },
    #       scopes: ["reports:read"]
    #   run ->(env) { [200, {}, ["hello #{env["tessera.record"].subject}"]] }
    #
    # The credential is taken from the first of these headers that the request has, with the
    # library's one parser (so every language accepts the same forms): Authorization (Token
    # token=..., quoted or not; token ...; Bearer ...; ApiKey ...), Auth-Token, X-Access-Token,
    # X-Auth-Token, X-Api-Key. With X-Access-Token, an X-Key header (Webitel's form), when
    # present, must equal the token's public id; it is compared with the id in the token text
    # before the token is verified, so a wrong X-Key uses up nothing (verify counts a use of a
    # limited-use token).
    #
    # A valid token's record goes to the app in env["tessera.record"]. Anything else is a 401
    # with the JSON body {"error":"401 Unauthorized"} (every reason gets the same answer; the
    # reason is in env["tessera.rejection"] for the logs).
    #
    # Options:
    # store::      a Tessera::Store, or a callable that opens one. A callable is called once in
    #              each process, on its first request: in a pre-forking server (Puma cluster,
    #              Unicorn) every worker opens its own handle after the fork, as it must.
    # tenant::     a tenant the token must belong to, or a callable(env) giving it. A callable
    #              that gives nil (it found no tenant in the request) refuses the request.
    # scopes::     scopes the token must grant, or a callable(env) giving them. A callable that
    #              gives nil refuses the request (give [] to require no scope).
    # env_key::    where the record goes (default "tessera.record").
    # optional::   let requests without any credential header through (no record); a
    #              credential that is present must still be valid. Default false.
    # body::       the 401 body: a String, or a callable(env, reason) returning one.
    # realm::      the realm of the WWW-Authenticate header of a 401 (default "api").
    class Authenticate
      # The headers looked at, in order: [Rack env key, header name].
      HEADERS = [
        %w[HTTP_AUTHORIZATION Authorization],
        %w[HTTP_AUTH_TOKEN Auth-Token],
        %w[HTTP_X_ACCESS_TOKEN X-Access-Token],
        %w[HTTP_X_AUTH_TOKEN X-Auth-Token],
        %w[HTTP_X_API_KEY X-Api-Key]
      ].freeze
      DEFAULT_BODY = JSON.generate(error: "401 Unauthorized").freeze
      # The length of a token text after its prefix and "_": id, secret and check digits.
      TOKEN_BODY_LEN = Native::MAX_TOKEN_LEN - Native::MAX_PREFIX_LEN - 1

      # The public id in a token text (the TESSERA_ID_LEN characters after the prefix's "_"),
      # read without verifying anything; nil when the text cannot be a token (verify then
      # rejects it as malformed, without touching the store).
      def self.token_id(token)
        body = token.b.rpartition("_").last
        body.bytesize == TOKEN_BODY_LEN ? body.byteslice(0, Native::ID_LEN) : nil
      end

      def initialize(app, store:, tenant: nil, scopes: nil, env_key: "tessera.record",
                     optional: false, body: DEFAULT_BODY, realm: "api")
        @app = app
        @store = store
        @tenant = tenant
        @scopes = scopes
        @env_key = env_key
        @optional = optional
        @body = body
        @realm = realm
        @opened = nil
        @opened_pid = nil
        @lock = Mutex.new
      end

      def call(env)
        found = credential(env)
        return @app.call(env) if found.nil? && @optional
        return unauthorized(env, :missing_credential) if found.nil?
        return unauthorized(env, found) if found.is_a?(Symbol)

        header, cred = found
        # X-Key first: a verify may count a use (a limited-use token), which a request with the
        # wrong X-Key must not spend.
        x_key = header == "X-Access-Token" ? env["HTTP_X_KEY"] : nil
        id = x_key && Authenticate.token_id(cred.token)
        return unauthorized(env, :x_key_mismatch) if id && x_key.b != id

        # A requirement the request could not name (nil, false, anything but text, text that
        # is not UTF-8: it may come from a header) is not "no requirement".
        tenant = value(@tenant, env)
        return unauthorized(env, :tenant_mismatch) if @tenant.respond_to?(:call) && !text?(tenant)
        scopes = value(@scopes, env)
        if @scopes.respond_to?(:call) && !(scopes.is_a?(Array) && scopes.all? { |s| text?(s) })
          return unauthorized(env, :scope_denied)
        end

        outcome = store.verify(cred.token, tenant: tenant, scopes: scopes || [])
        return unauthorized(env, outcome.rejection) unless outcome.valid?
        return unauthorized(env, :x_key_mismatch) if x_key && x_key.b != outcome.record.id.b

        env[@env_key] = outcome.record
        @app.call(env)
      end

      # The store of this process (opened here, after any fork, if given as a callable).
      def store
        return @store unless @store.respond_to?(:call)

        @lock.synchronize do
          if @opened.nil? || @opened_pid != Process.pid
            @opened = @store.call
            @opened_pid = Process.pid
          end
          @opened
        end
      end

      private

      # [header name, Credential], a Symbol naming why the header is unusable, or nil when the
      # request carries no credential header at all.
      def credential(env)
        HEADERS.each do |key, name|
          raw = env[key]
          next if raw.nil?

          begin
            return [name, Tessera.parse_header(name, raw)]
          rescue CredentialError => e
            return e.status_name
          end
        end
        nil
      end

      def value(option, env)
        option.respond_to?(:call) ? option.call(env) : option
      end

      # A String (or Symbol) that reads as UTF-8.
      def text?(value)
        value = value.to_s if value.is_a?(Symbol)
        value.is_a?(String) && value.dup.force_encoding(Encoding::UTF_8).valid_encoding?
      end

      def unauthorized(env, reason)
        env["tessera.rejection"] = reason
        body = @body.respond_to?(:call) ? @body.call(env, reason) : @body
        [401,
         { "content-type" => "application/json", "content-length" => body.bytesize.to_s,
           "www-authenticate" => %(Token realm="#{@realm}") },
         [body]]
      end
    end
  end
end
