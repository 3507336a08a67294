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
    # token=..., quoted or not; token ...; Bearer ...; ApiKey ... or Api-Key ...), Auth-Token,
    # X-Access-Token, X-Auth-Token, X-Api-Key. With X-Access-Token, an X-Key header (Webitel's
    # form), when present, must equal the token's public id; it is compared with the id in the
    # token text before the token is verified, so a wrong X-Key uses up nothing (verify counts a
    # use of a limited-use token).
    #
    # A valid token's record goes to the app in env["tessera.record"], and the credential it came
    # in (a Tessera::Credential: #scheme, #token) in env["tessera.credential"]. A valid token
    # that lacks a required scope or belongs to another tenant is a 403 with the JSON body
    # {"error":"403 Forbidden"} (RFC 9110 15.5.4: authenticated, not allowed). Anything else is a
    # 401 with {"error":"401 Unauthorized"}, every reason the same answer, including a tenant or
    # scopes callable that gives nil (the token was not verified then). The reason is in
    # env["tessera.rejection"] for the logs (and is given to a body callable): :tenant_mismatch
    # and :scope_denied (403) are a valid token refused; a 401's reason is Store#verify's
    # rejection (:expired, :revoked, ...), a header's fault (:missing_credential,
    # :credential_empty, ...), :scheme_not_accepted, :x_key_mismatch, or :tenant_unavailable /
    # :scopes_unavailable when a tenant or scopes callable gave nothing usable (the token was
    # not verified, so nothing is known of it).
    #
    # Both carry a WWW-Authenticate challenge, in one header (challenges separated by ", "):
    # * a client that presented its token as Bearer, when Bearer is accepted, gets RFC 6750's,
    #   with its error code: Bearer realm="api", error="invalid_request" when the parser could
    #   not read the header ("Bearer" alone, "Bearer a b": :missing_token, :invalid_character,
    #   ...), error="invalid_token" for any other 401 (a token that was read and refused,
    #   :malformed included), error="insufficient_scope" for a 403. The status stays 401 where
    #   RFC 6750 gives invalid_request a 400.
    # * any other client gets, without an error code (RFC 6750 3.1), a challenge for each scheme
    #   accepted whose challenge clients know: Token realm="api" (Rails') and Bearer realm="api"
    #   (RFC 6750), both by default. ApiKey realm="api" only when :api_key is the only scheme
    #   accepted: nothing specifies an ApiKey challenge, but any other would send the client to a
    #   scheme refused. Token realm="api" when no Authorization scheme is read (headers: without
    #   Authorization, or schemes: []): a bare header (Auth-Token, X-Api-Key, ...) has no
    #   auth-scheme to name, and a 401 must carry a challenge (RFC 9110 11.6.1).
    #
    # Options:
    # store::      a Tessera::Store, or a callable that opens one. A callable is called once in
    #              each process, on its first request: in a pre-forking server (Puma cluster,
    #              Unicorn) every worker opens its own handle after the fork, as it must.
    # tenant::     a tenant the token must belong to, or a callable(env) giving it. A callable
    #              that gives nil (it found no tenant in the request) refuses the request: a
    #              401, :tenant_unavailable.
    # scopes::     scopes the token must grant (an Array), or a callable(env) giving them. A
    #              callable that gives nil refuses the request (give [] to require no scope): a
    #              401, :scopes_unavailable.
    #              Text is read as Store#verify reads it (transcoded from its encoding; BINARY
    #              as UTF-8): a callable's text that cannot be read refuses the request, a static
    #              tenant or scopes that are not text raise ArgumentError here, and ones no
    #              token can meet (a scope with a space) Tessera::InvalidArgument.
    # headers::    the header names read (default: all of the above); the others are not looked
    #              at, as if absent.
    # schemes::    the Authorization schemes accepted, of :token, :bearer, :api_key (default: all);
    #              a token presented with another one is a 401 (:scheme_not_accepted). A
    #              challenge names only schemes accepted (see above).
    # env_key::    where the record goes (default "tessera.record").
    # optional::   let requests without any credential header (of those read) through (no
    #              record); a credential that is present must still be valid. Default false.
    # body::       the 401 body: a Hash or an Array (sent as JSON), a String (sent as
    #              text/plain), or a callable(env, reason) returning one (nil: an empty body).
    # forbidden_body:: the 403 body, in the same forms.
    # realm::      the realm of the WWW-Authenticate challenge (default "api"): text without a
    #              double quote, a backslash or a control character, which would break the header
    #              (ArgumentError here).
    class Authenticate
      # The headers looked at, in order: [Rack env key, header name].
      HEADERS = [
        %w[HTTP_AUTHORIZATION Authorization],
        %w[HTTP_AUTH_TOKEN Auth-Token],
        %w[HTTP_X_ACCESS_TOKEN X-Access-Token],
        %w[HTTP_X_AUTH_TOKEN X-Auth-Token],
        %w[HTTP_X_API_KEY X-Api-Key]
      ].freeze
      # The schemes of the Authorization header.
      SCHEMES = %i[token bearer api_key].freeze
      DEFAULT_BODY = { "error" => "401 Unauthorized" }.freeze
      DEFAULT_FORBIDDEN_BODY = { "error" => "403 Forbidden" }.freeze
      # The refusals of a token that is valid but not allowed here: 403, not 401.
      FORBIDDEN = %i[scope_denied tenant_mismatch].freeze
      # The refusals of a header the parser could not read (no token, two, a bad character...):
      # a malformed request, RFC 6750's invalid_request, not a token that is not valid.
      HEADER_FAULTS = ERRORS.values.select { |c| c < CredentialError }.map(&:status_name).freeze
      # The auth-scheme a challenge names for each scheme.
      CHALLENGES = { token: "Token", bearer: "Bearer", api_key: "ApiKey" }.freeze
      # The length of a token text after its prefix and "_": id, secret and check digits.
      TOKEN_BODY_LEN = Native::MAX_TOKEN_LEN - Native::MAX_PREFIX_LEN - 1

      # The WWW-Authenticate value of a refusal. For a client that presented its token as Bearer,
      # RFC 6750's Bearer challenge with its error code: insufficient_scope (+forbidden+, a 403),
      # invalid_request (+invalid_request+: the header could not be read), else invalid_token.
      # For any other, a challenge for each of the +schemes+ it may use, without an error code
      # (RFC 6750 3.1): Token and Bearer; ApiKey, whose challenge nothing specifies, only when it
      # is the only one; Token when there is none (RFC 9110 11.6.1: a 401 has a challenge). The
      # default +schemes+ is Token alone, the challenge of earlier versions; give the middleware's
      # schemes (SCHEMES by default) for its challenge, [] when it reads no Authorization header.
      def self.challenge(realm, bearer: false, forbidden: false, invalid_request: false, schemes: %i[token])
        realm = realm_text(realm)
        if bearer
          error = if forbidden then "insufficient_scope"
                  elsif invalid_request then "invalid_request"
                  else "invalid_token"
                  end
          return %(Bearer realm="#{realm}", error="#{error}")
        end

        schemes = Array(schemes).map(&:to_sym)
        named = %i[token bearer] & schemes
        named = [schemes.include?(:api_key) ? :api_key : :token] if named.empty?
        named.map { |s| %(#{CHALLENGES.fetch(s)} realm="#{realm}") }.join(", ")
      end

      # +realm+ as it goes between the quotes of the challenge: text (a String or a Symbol)
      # without a double quote or a backslash, which would have to be escaped there, nor a control
      # character (CR LF would end the header and start another of the realm's choosing).
      def self.realm_text(realm)
        text = realm.is_a?(Symbol) ? realm.to_s : realm
        return text if text.is_a?(String) && !text.b.match?(/["\\\x00-\x1F\x7F]/n)

        raise ArgumentError, "realm: a String without double quotes, backslashes or control characters, " \
                             "not #{realm.inspect}"
      end

      # The public id in a token text (the TESSERA_ID_LEN characters after the prefix's "_"),
      # read without verifying anything; nil when the text cannot be a token (verify then
      # rejects it as malformed, without touching the store).
      def self.token_id(token)
        body = token.b.rpartition("_").last
        body.bytesize == TOKEN_BODY_LEN ? body.byteslice(0, Native::ID_LEN) : nil
      end

      def initialize(app, store:, tenant: nil, scopes: nil, headers: nil, schemes: nil,
                     env_key: "tessera.record", optional: false, body: DEFAULT_BODY,
                     forbidden_body: DEFAULT_FORBIDDEN_BODY, realm: "api")
        @app = app
        @store = store
        @tenant = tenant_option(tenant)
        @scopes = scopes_option(scopes)
        # Static requirements that no token can meet (a scope with a space, say) are refused
        # here, rather than by every request.
        Tessera::Arguments.check_requirements(@tenant.respond_to?(:call) ? nil : @tenant,
                                              @scopes.nil? || @scopes.respond_to?(:call) ? [] : @scopes)
        @headers = read_headers(headers)
        @schemes = accepted_schemes(schemes)
        @env_key = env_key
        @optional = optional
        @body = body_option(body, "body")
        @forbidden_body = body_option(forbidden_body, "forbidden_body")
        @realm = Authenticate.realm_text(realm)
        # The schemes a challenge names: those accepted in Authorization, when it is read. A bare
        # header (Auth-Token, X-Api-Key...) has no auth-scheme to name.
        @challenge_schemes = @headers.any? { |_, name| name == "Authorization" } ? @schemes : []
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
        env["tessera.credential"] = cred
        if header == "Authorization" && !@schemes.include?(cred.scheme)
          return unauthorized(env, :scheme_not_accepted)
        end

        # X-Key first: a verify may count a use (a limited-use token), which a request with the
        # wrong X-Key must not spend.
        x_key = header == "X-Access-Token" ? env["HTTP_X_KEY"] : nil
        id = x_key && Authenticate.token_id(cred.token)
        return unauthorized(env, :x_key_mismatch) if id && x_key.b != id

        # A requirement the request could not name (nil, false, anything but text, text that
        # is not UTF-8: it may come from a header) is not "no requirement". The token is not
        # verified then, so the answer is a 401, whatever the token, with a reason of its own:
        # not :tenant_mismatch or :scope_denied, which say the token is valid. (Static ones were
        # checked and converted in #initialize.)
        tenant = @tenant.respond_to?(:call) ? utf8(@tenant.call(env)) : @tenant
        return unauthorized(env, :tenant_unavailable) if tenant.nil? && @tenant.respond_to?(:call)

        scopes = @scopes.respond_to?(:call) ? utf8_list(@scopes.call(env)) : @scopes
        return unauthorized(env, :scopes_unavailable) if scopes.nil? && @scopes.respond_to?(:call)

        outcome = verify(cred.token, tenant, scopes)
        return unauthorized(env, outcome) if outcome.is_a?(Symbol)
        # The library judges the tenant and the scopes only for a token that is otherwise valid.
        return forbidden(env, outcome.rejection) if FORBIDDEN.include?(outcome.rejection)
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

      # The store's verify, or the reason to refuse the request when a callable named a
      # requirement no token can meet (a 300-byte tenant from a header): the store refuses such
      # requirements before it reads the token, and one the request chose is no 500.
      def verify(token, tenant, scopes)
        store.verify(token, tenant: tenant, scopes: scopes || [])
      rescue Tessera::InvalidArgument
        if @tenant.respond_to?(:call) && !Tessera::Arguments.meetable?(tenant, [])
          :tenant_unavailable
        elsif @scopes.respond_to?(:call) && !Tessera::Arguments.meetable?(nil, scopes)
          :scopes_unavailable
        else
          raise
        end
      end

      # The [Rack env key, header name] pairs of HEADERS named in +names+ (nil: all), in the
      # order of HEADERS.
      def read_headers(names)
        return HEADERS if names.nil?

        wanted = Array(names).map { |n| n.to_s.downcase }
        unknown = wanted - HEADERS.map { |_, name| name.downcase }
        unless unknown.empty?
          raise ArgumentError, "headers: unknown #{unknown.join(", ")} (#{HEADERS.map(&:last).join(", ")})"
        end

        HEADERS.select { |_, name| wanted.include?(name.downcase) }.freeze
      end

      def accepted_schemes(schemes)
        return SCHEMES if schemes.nil?

        schemes = Array(schemes).map(&:to_sym)
        unknown = schemes - SCHEMES
        raise ArgumentError, "schemes: unknown #{unknown.join(", ")} (#{SCHEMES.join(", ")})" unless unknown.empty?

        schemes.freeze
      end

      # A static tenant (text, or nil for any tenant) as UTF-8, or a callable: refused here
      # rather than by every request.
      def tenant_option(tenant)
        return tenant if tenant.nil? || tenant.respond_to?(:call)

        text = utf8(tenant)
        return text unless text.nil?

        raise ArgumentError, "tenant: a String of UTF-8 text, nil or a callable(env), not #{tenant.inspect}"
      end

      # Static scopes (an Array of text, or nil for none) as UTF-8, or a callable: refused here
      # rather than by every request.
      def scopes_option(scopes)
        return scopes if scopes.nil? || scopes.respond_to?(:call)

        list = utf8_list(scopes)
        return list unless list.nil?

        raise ArgumentError, "scopes: an Array of Strings of UTF-8 text, nil or a callable(env), " \
                             "not #{scopes.inspect}"
      end

      def body_option(body, what)
        return body if body.respond_to?(:call) || body.is_a?(String) || body.is_a?(Hash) || body.is_a?(Array)

        raise ArgumentError, "#{what}: a Hash, an Array, a String or a callable(env, reason), not #{body.class}"
      end

      # [header name, Credential], a Symbol naming why the header is unusable, or nil when the
      # request carries none of the headers read.
      def credential(env)
        @headers.each do |key, name|
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

      # The UTF-8 text the store will be given for a String (or Symbol), converted as
      # Store#verify converts it: bytes tagged BINARY as they are, any other encoding
      # transcoded from it. nil when there is none: not text, bytes that are not UTF-8, or
      # characters that do not convert (a US-ASCII String with bytes above 127). What is judged
      # here is what is passed on, so the store never raises for it.
      def utf8(value)
        value = value.to_s if value.is_a?(Symbol)
        return nil unless value.is_a?(String)

        s = if value.encoding == Encoding::BINARY
              value.dup.force_encoding(Encoding::UTF_8)
            else
              value.encode(Encoding::UTF_8)
            end
        s.valid_encoding? ? s.freeze : nil
      rescue EncodingError
        nil
      end

      # An Array of texts as UTF-8 (see #utf8), or nil when it is no Array or one is not text.
      def utf8_list(values)
        return nil unless values.is_a?(Array)

        list = values.map { |v| utf8(v) }
        list.all? ? list.freeze : nil
      end

      # Whether the client presented its token as Bearer, in an Authorization header read here
      # (the first header looked at), and Bearer is accepted: only then is the challenge a
      # Bearer one with an error code. Read from the header itself, so that a Bearer credential
      # the parser refused ("Bearer" alone) counts too.
      def bearer?(env)
        @challenge_schemes.include?(:bearer) &&
          env["HTTP_AUTHORIZATION"].to_s.b.match?(/\A[ \t]*bearer(?:[ \t]|\z)/i)
      end

      def unauthorized(env, reason)
        refuse(401, env, reason, @body)
      end

      def forbidden(env, reason)
        refuse(403, env, reason, @forbidden_body)
      end

      def refuse(status, env, reason, option)
        env["tessera.rejection"] = reason
        body = option.respond_to?(:call) ? option.call(env, reason) : option
        text, type =
          case body
          when nil then ["", "text/plain; charset=utf-8"]
          when String then [body, "text/plain; charset=utf-8"]
          when Hash, Array then [JSON.generate(body), "application/json"]
          else raise TypeError, "the #{status} body must be a Hash, an Array, a String or nil, not #{body.class}"
          end
        challenge = Authenticate.challenge(@realm, bearer: bearer?(env), forbidden: status == 403,
                                                   invalid_request: HEADER_FAULTS.include?(reason),
                                                   schemes: @challenge_schemes)
        [status, { "content-type" => type, "content-length" => text.bytesize.to_s, "www-authenticate" => challenge },
         [text]]
      end
    end
  end
end
