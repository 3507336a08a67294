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
  #   OnlyHeader                    keeps only the API's own credential header (and, for
  #                                 Authorization, only its schemes): the gem's middleware
  #                                 accepts every header form of the five documents
  #     -> Tessera::Rack::Authenticate
  #                                 the gem's middleware: parses the credential, verifies the
  #                                 token (with the route's tenant and scopes, if any); X-Key
  #                                 must equal the token's id when present
  #       -> SeedGuard              the token must belong to this API (tenant "<seed>/..."),
  #                                 and pass the API's own check (kind, X-Key present)
  #         -> the handler
  #
  # optionally with ScopeForbidden around Authenticate, which turns the middleware's 401 for a
  # valid token that lacks a required scope into a 403 (the middleware answers 401 for every
  # reason).
  module Auth
    CREDENTIAL_HEADERS = Tessera::Rack::Authenticate::HEADERS.to_h

    module_function

    # +header+: the Rack key of the one credential header the API reads ("HTTP_AUTH_TOKEN").
    # +schemes+: the Authorization schemes it accepts (:token, :api_key, :bearer).
    # +body+: the API's 401 body, a String or callable(env, reason). +check+: callable(env,
    # record) -> true when the API accepts this token here. +forbidden+: the 403 body, when
    # scope failures should be 403s.
    def protect(handler, seed:, body:, header:, schemes: nil, tenant: nil, scopes: nil, check: nil, forbidden: nil)
      guarded = SeedGuard.new(handler, seed: seed, body: body, check: check)
      app = Tessera::Rack::Authenticate.new(guarded, store: Storage::STORE, body: body, tenant: tenant,
                                                     scopes: scopes, realm: seed)
      app = ScopeForbidden.new(app, forbidden) if forbidden
      OnlyHeader.new(app, header: header, schemes: schemes, body: body)
    end

    # The token text the request presented (after OnlyHeader), for a logout by text.
    def presented_token(env)
      env.fetch("seed.credential").token
    end

    def unauthorized(env, body, reason)
      env["tessera.rejection"] = reason
      text = body.respond_to?(:call) ? body.call(env, reason) : body
      [401, { "content-type" => "application/json", "content-length" => text.bytesize.to_s }, [text]]
    end
  end

  # Before Tessera::Rack::Authenticate: removes every credential header but the API's own from
  # the env, checks the Authorization scheme, and leaves the parsed credential in
  # env["seed.credential"] (the middleware does not pass it on).
  class OnlyHeader
    def initialize(app, header:, schemes:, body:)
      @app = app
      @header = header
      @name = Auth::CREDENTIAL_HEADERS.fetch(header)
      @schemes = schemes
      @body = body
    end

    def call(env)
      (Auth::CREDENTIAL_HEADERS.keys - [@header]).each { |k| env.delete(k) }
      raw = env[@header]
      if raw
        credential = begin
          Tessera.parse_header(@name, raw)
        rescue Tessera::CredentialError
          nil # the middleware answers it
        end
        if credential
          return Auth.unauthorized(env, @body, :scheme_not_accepted) if @schemes && !@schemes.include?(credential.scheme)

          env["seed.credential"] = credential
        end
      end
      @app.call(env)
    end
  end

  # Inside Tessera::Rack::Authenticate: a valid token of another API (or one the API refuses
  # here) gets the same 401 as any invalid token.
  class SeedGuard
    def initialize(app, seed:, body:, check:)
      @app = app
      @namespace = "#{seed}/"
      @body = body
      @check = check
    end

    def call(env)
      record = env.fetch("tessera.record")
      reason =
        if !record.tenant.start_with?(@namespace) then :other_api
        elsif @check && !@check.call(env, record) then :refused_here
        end
      return @app.call(env) if reason.nil?

      Auth.unauthorized(env, @body, reason)
    end
  end

  # Around Tessera::Rack::Authenticate: its 401 for :scope_denied (the token is valid and of the
  # right tenant, but lacks a scope the route needs) becomes a 403.
  class ScopeForbidden
    def initialize(app, body)
      @app = app
      @body = body
    end

    def call(env)
      status, headers, body = @app.call(env)
      return [status, headers, body] unless status == 401 && env["tessera.rejection"] == :scope_denied

      body.close if body.respond_to?(:close)
      HTTP.json(403, @body)
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
