# frozen_string_literal: true

require "json"
require "rack"
require "tessera/rack"
require_relative "storage"

module SeedApis
  # Small HTTP helpers shared by the five APIs: JSON answers, request bodies, a router with
  # path parameters, and the authentication stack built on Tessera::Rack::Authenticate.
  module HTTP
    # A request body that is not a JSON object or form (answered 400 by each API in its style).
    class BadRequest < StandardError; end

    module_function

    def json(status, data, headers = {})
      body = JSON.generate(data)
      [status, { "content-type" => "application/json", "content-length" => body.bytesize.to_s }.merge(headers),
       [body]]
    end

    # The request's parameters: a JSON body (an object; `null` or an empty body count as no
    # parameters), else a form body, merged over the query string. A body that looks like JSON
    # is read as JSON whatever its Content-Type (`curl -d '{...}'` without a header sends a form
    # type).
    def params(env)
      req = Rack::Request.new(env)
      query = rack_params("query string") { req.GET }
      raw = req.body&.read.to_s
      req.body&.rewind
      type = req.media_type.to_s
      text = raw.strip
      body =
        if text.empty?
          {}
        elsif type == "multipart/form-data" ||
              (type == "application/x-www-form-urlencoded" && !text.start_with?("{", "[", "null"))
          rack_params("form body") { req.POST }
        else
          begin
            parsed = JSON.parse(text)
          rescue JSON::ParserError
            raise BadRequest, "the body is not valid JSON"
          end
          raise BadRequest, "the body must be a JSON object" unless parsed.nil? || parsed.is_a?(Hash)

          parsed || {}
        end
      query.merge(body)
    end

    # What Rack parsed (a query string or a form body); what it cannot parse (`a=%`, nesting too
    # deep, a cut-off multipart body) is the client's error.
    def rack_params(what)
      yield
    rescue StandardError => e
      raise BadRequest, "the #{what} cannot be read (#{e.class.name.split("::").last})"
    end

    # The path parameters the router found (":company_id" => "37001").
    def path_params(env)
      env.fetch("seed.path_params", {})
    end

    # The base URL of the API this request reached ("http://host:9292/bookingbug").
    def base_url(env)
      req = Rack::Request.new(env)
      req.base_url + req.script_name
    end

    # The verified record (set by Tessera::Rack::Authenticate).
    def record(env)
      env.fetch("tessera.record")
    end
  end

  # Method + path routing with ":name" parameters; a trailing slash is optional on every route
  # (Overvis writes its paths with one, the others without).
  class Router
    Route = Struct.new(:verb, :regex, :names, :app)

    def initialize(not_found:, not_allowed:)
      @routes = []
      @not_found = not_found
      @not_allowed = not_allowed
    end

    def on(verb, pattern, app)
      names = pattern.scan(/:(\w+)/).flatten
      source = pattern.chomp("/").split(%r{(:\w+)}).map { |part| part.start_with?(":") ? "([^/]+)" : Regexp.escape(part) }.join
      @routes << Route.new(verb, /\A#{source}\/?\z/, names, app)
      self
    end

    def call(env)
      path = env["PATH_INFO"].to_s
      path = "/" if path.empty?
      verb = env["REQUEST_METHOD"]
      allowed = []
      @routes.each do |route|
        m = route.regex.match(path)
        next unless m

        if route.verb == verb
          env["seed.path_params"] = route.names.zip(m.captures).to_h
          return route.app.call(env)
        end
        allowed << route.verb
      end
      return @not_found.call(env) if allowed.empty?

      status, headers, body = @not_allowed.call(env)
      [status, headers.merge("allow" => allowed.uniq.join(", ")), body]
    end
  end

  # The authentication stack of a protected route:
  #
  #   Tessera::Rack::Authenticate   the gem's middleware: reads only the API's own credential
  #                                 header (headers:) and, for Authorization, only its schemes
  #                                 (schemes:); verifies the token; X-Key must equal the
  #                                 token's id when present
  #     -> SeedGuard                the token must belong to this API (tenant "<seed>/..."), its
  #                                 account must still be in the accounts file, and it must pass
  #                                 the API's own check (kind, X-Key present, ...)
  #       -> the handler            what needs more than a valid token (a scope, an admin) is
  #                                 checked there: 403
  module Auth
    module_function

    # +header+: the one credential header the API reads ("Auth-Token"). +schemes+: the
    # Authorization schemes it accepts (:token, :api_key, :bearer). +body+: the API's 401 body.
    # +account+: callable(record) -> the token's account, nil once it left the accounts file.
    # +check+: callable(env, record) -> true when the API accepts this token here.
    def protect(handler, seed:, body:, header:, account:, schemes: nil, check: nil)
      guarded = SeedGuard.new(handler, seed: seed, body: body, account: account, check: check)
      Tessera::Rack::Authenticate.new(guarded, store: Storage::STORE, headers: [header], schemes: schemes,
                                               body: body, realm: seed)
    end

    # The token text the request presented, for a logout by text.
    def presented_token(env)
      env.fetch("tessera.credential").token
    end

    # A 401 of the API, with the challenge the middleware sends (realm: the API's name).
    def unauthorized(env, body, reason, realm)
      env["tessera.rejection"] = reason
      HTTP.json(401, body, "www-authenticate" => challenge(env, realm))
    end

    def challenge(env, realm)
      Tessera::Rack::Authenticate.challenge(realm, bearer: env["tessera.credential"]&.scheme == :bearer)
    end
  end

  # Inside Tessera::Rack::Authenticate: a valid token of another API, of an account that is no
  # longer in the accounts file, or one the API refuses here gets the same 401 as any invalid
  # token.
  class SeedGuard
    def initialize(app, seed:, body:, account:, check:)
      @app = app
      @seed = seed
      @namespace = "#{seed}/"
      @body = body
      @account = account
      @check = check
    end

    def call(env)
      record = env.fetch("tessera.record")
      reason =
        if !record.tenant.start_with?(@namespace) then :other_api
        elsif !@account.call(record) then :account_removed
        elsif @check && !@check.call(env, record) then :refused_here
        end
      return @app.call(env) if reason.nil?

      Auth.unauthorized(env, @body, reason, @seed)
    end
  end

  # Names the worker process in every answer (x-worker-pid) when SEED_APIS_WORKER_HEADER=1:
  # the tests use it to see that every worker was asked.
  class WorkerHeader
    def initialize(app)
      @app = app
    end

    def call(env)
      status, headers, body = @app.call(env)
      [status, headers.merge("x-worker-pid" => Process.pid.to_s), body]
    end
  end
end
