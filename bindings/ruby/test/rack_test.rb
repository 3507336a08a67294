# frozen_string_literal: true

require_relative "test_helper"
require "rack/test"
require "rack/lint"
require "tessera/rack"

# The Rack middleware: every seed header form, the 401 and 403 answers and their challenges,
# scopes and tenants, the headers and schemes read, X-Key, the realm, the record handed to the
# app, a store opened lazily in each process.
class RackMiddlewareTest < StoreTest
  include Rack::Test::Methods

  APP = lambda do |env|
    record = env["tessera.record"]
    body = JSON.generate(subject: record&.subject, tenant: record&.tenant, id: record&.id)
    [200, { "content-type" => "application/json" }, [body]]
  end

  # The challenge of the default middleware to a client that did not present Bearer: it accepts
  # both the Token and the Bearer scheme.
  CHALLENGE = 'Token realm="api", Bearer realm="api"'
  BEARER_INVALID = 'Bearer realm="api", error="invalid_token"'

  def middleware_options
    @middleware_options ||= { store: @store }
  end

  def app
    options = middleware_options
    Rack::Lint.new(Rack::Builder.new do
      use Tessera::Rack::Authenticate, **options
      run APP
    end.to_app)
  end

  # The middleware alone, built around an app that answers 200 (for what it checks when built).
  def build_middleware(**options)
    Tessera::Rack::Authenticate.new(->(_env) { [200, {}, []] }, store: @store, **options)
  end

  # What a client gets from a middleware built with +options+ for a GET with +headers+ (Rack env
  # keys): [status, WWW-Authenticate].
  def answer(options, headers = {})
    status, response_headers, = build_middleware(**options).call(Rack::MockRequest.env_for("/", headers.dup))
    [status, response_headers["www-authenticate"]]
  end

  def assert_unauthorized(body = { "error" => "401 Unauthorized" }, challenge: CHALLENGE)
    assert_equal 401, last_response.status
    assert_equal "application/json", last_response.headers["content-type"]
    assert_equal body, JSON.parse(last_response.body)
    assert_equal challenge, last_response.headers["www-authenticate"]
  end

  def assert_forbidden(challenge: CHALLENGE)
    assert_equal 403, last_response.status
    assert_equal "application/json", last_response.headers["content-type"]
    assert_equal({ "error" => "403 Forbidden" }, JSON.parse(last_response.body))
    assert_equal challenge, last_response.headers["www-authenticate"]
  end

  def test_every_seed_header_form_lets_a_valid_token_through_with_its_record
    login = @store.issue_session("alice", tenant: "acme")
    t = login.token
    forms = {
      "HTTP_AUTHORIZATION" => ["Token token=#{t}", %(Token token="#{t}"), "token #{t}", "Bearer #{t}",
                               "ApiKey #{t}", "Api-Key #{t}", "  bearer   #{t}  "],
      "HTTP_AUTH_TOKEN" => [t, %("#{t}")],
      "HTTP_X_ACCESS_TOKEN" => [t],
      "HTTP_X_AUTH_TOKEN" => [t],
      "HTTP_X_API_KEY" => [t]
    }
    forms.each do |key, values|
      values.each do |value|
        get "/", {}, key => value
        assert_equal 200, last_response.status, "#{key}: #{value}"
        assert_equal({ "subject" => "alice", "tenant" => "acme", "id" => login.id }, JSON.parse(last_response.body))
      end
    end
  end

  def test_every_golden_header_vector_is_judged_as_the_parser_judges_it
    login = @store.issue_session("alice")
    TesseraTest.golden["headers"].each do |c|
      next if c.key?("name_hex") || c.key?("value_hex")

      key = "HTTP_#{c["name"].upcase.tr("-", "_")}"
      next unless Tessera::Rack::Authenticate::HEADERS.map(&:first).include?(key)

      # Put our real token where the vector's token was, so a parsed credential can verify.
      value = c["token"] ? c["value"].sub(c["token"], login.token) : c["value"]
      get "/", {}, key => value
      expected = c["error"] ? 401 : 200
      assert_equal expected, last_response.status, "#{c["name"]}: #{c["value"][0, 40].inspect} (#{c["why"]})"
      assert_equal c["error"].to_sym, last_request.env["tessera.rejection"] if c["error"]
    end
  end

  def test_no_credential_and_every_rejection_get_the_same_401
    t = @store.issue_session("bob", ttl: 60)
    get "/"
    assert_unauthorized
    assert_equal :missing_credential, last_request.env["tessera.rejection"]
    get "/", {}, "HTTP_AUTHORIZATION" => "Basic dXNlcjpwYXNz"
    assert_unauthorized
    assert_equal :unknown_scheme, last_request.env["tessera.rejection"]
    get "/", {}, "HTTP_AUTHORIZATION" => "Bearer tss_nonsense"
    assert_unauthorized(challenge: BEARER_INVALID)
    assert_equal :malformed, last_request.env["tessera.rejection"]
    @clock.advance(60)
    get "/", {}, "HTTP_AUTH_TOKEN" => t.token
    assert_unauthorized
    assert_equal :expired, last_request.env["tessera.rejection"]
  end

  def test_a_revoked_token_is_refused_on_the_next_request
    t = @store.issue_session("carol")
    get "/", {}, "HTTP_AUTHORIZATION" => "Bearer #{t.token}"
    assert_equal 200, last_response.status
    @store.revoke(t.token)
    get "/", {}, "HTTP_AUTHORIZATION" => "Bearer #{t.token}"
    assert_unauthorized(challenge: BEARER_INVALID)
    assert_equal :revoked, last_request.env["tessera.rejection"]
  end

  def test_required_scopes_and_tenant_are_enforced
    middleware_options.merge!(scopes: ["reports:read"], tenant: ->(env) { env["PATH_INFO"][%r{\A/(\w+)}, 1] })
    key = @store.issue_api_key("acme", scopes: ["reports:read"])
    weak = @store.issue_api_key("acme", scopes: ["locations:read"])
    get "/acme/reports", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_equal 200, last_response.status
    # A valid token that is not allowed here: 403, not the 401 of a token that is not valid.
    get "/globex/reports", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_forbidden
    assert_equal :tenant_mismatch, last_request.env["tessera.rejection"]
    get "/acme/reports", {}, "HTTP_AUTHORIZATION" => "ApiKey #{weak.token}"
    assert_forbidden
    assert_equal :scope_denied, last_request.env["tessera.rejection"]
    # Only a valid token gets to the tenant and the scopes.
    @store.revoke(weak.token)
    get "/acme/reports", {}, "HTTP_AUTHORIZATION" => "ApiKey #{weak.token}"
    assert_unauthorized
    assert_equal :revoked, last_request.env["tessera.rejection"]
  end

  def test_a_bearer_client_gets_the_bearer_challenge_with_its_error_code
    middleware_options.merge!(scopes: ["reports:read"], realm: "reports")
    key = @store.issue_api_key("acme", scopes: ["reports:read"])
    weak = @store.issue_api_key("acme")
    get "/", {}, "HTTP_AUTHORIZATION" => "Bearer #{weak.token}"
    assert_forbidden(challenge: 'Bearer realm="reports", error="insufficient_scope"')
    ["Bearer tss_nonsense", "bearer  #{key.token[0..-2]}"].each do |value|
      get "/", {}, "HTTP_AUTHORIZATION" => value
      assert_unauthorized(challenge: 'Bearer realm="reports", error="invalid_token"')
    end
    # Every other scheme, and no credential at all, get the challenges of the schemes accepted,
    # without an error code.
    get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey #{weak.token}"
    assert_forbidden(challenge: 'Token realm="reports", Bearer realm="reports"')
    get "/", {}, "HTTP_AUTH_TOKEN" => "tss_nonsense"
    assert_unauthorized(challenge: 'Token realm="reports", Bearer realm="reports"')
    get "/"
    assert_unauthorized(challenge: 'Token realm="reports", Bearer realm="reports"')
    get "/", {}, "HTTP_AUTHORIZATION" => "Bearer #{key.token}"
    assert_equal 200, last_response.status
  end

  def test_the_challenge_names_only_the_schemes_accepted
    t = @store.issue_session("alice").token
    # A client that did not present a Bearer token is told the schemes it may use (ApiKey only
    # when it is the only one), without an error code (RFC 6750 3.1).
    { {} => 'Token realm="api", Bearer realm="api"',
      { schemes: %i[bearer] } => 'Bearer realm="api"',
      { schemes: %i[bearer api_key] } => 'Bearer realm="api"',
      { schemes: %i[token api_key] } => 'Token realm="api"',
      { schemes: %i[api_key] } => 'ApiKey realm="api"',
      { schemes: [] } => 'Token realm="api"',
      # No Authorization header read: no scheme applies, and a 401 needs a challenge.
      { headers: %w[Auth-Token] } => 'Token realm="api"' }.each do |options, challenge|
      [{}, { "HTTP_AUTH_TOKEN" => "tss_nonsense" }, { "HTTP_AUTHORIZATION" => "Token token=#{t}x" }].each do |headers|
        assert_equal [401, challenge], answer(options, headers), "#{options} #{headers.keys}"
      end
    end
    # Bearer, when accepted, is answered with its error code; when not, like any other scheme.
    assert_equal [401, BEARER_INVALID], answer({ schemes: %i[bearer] }, "HTTP_AUTHORIZATION" => "Bearer #{t}x")
    assert_equal [401, 'ApiKey realm="api"'], answer({ schemes: %i[api_key] }, "HTTP_AUTHORIZATION" => "Bearer #{t}")
    assert_equal [401, 'Token realm="api"'], answer({ schemes: %i[token] }, "HTTP_AUTHORIZATION" => "Bearer #{t}")
    # The 403 of a valid token, too.
    bearer_only = { schemes: %i[bearer], scopes: ["reports:read"] }
    assert_equal [403, 'Bearer realm="api"'], answer(bearer_only, "HTTP_AUTH_TOKEN" => t)
    assert_equal [403, 'Bearer realm="api", error="insufficient_scope"'],
                 answer(bearer_only, "HTTP_AUTHORIZATION" => "Bearer #{t}")
    # What an app behind the middleware sends with the same schemes.
    assert_equal 'Bearer realm="api"', Tessera::Rack::Authenticate.challenge("api", schemes: %i[bearer])
    assert_equal 'Token realm="api"', Tessera::Rack::Authenticate.challenge("api")
  end

  def test_a_bearer_credential_that_cannot_be_read_is_an_invalid_request
    # RFC 6750 3.1: invalid_request for a malformed request (sent with the middleware's 401, not
    # the RFC's 400), invalid_token for a token that was read and is not valid.
    t = @store.issue_session("alice", ttl: 60).token
    { "Bearer" => :missing_token, "Bearer  " => :missing_token, "Bearer a b" => :invalid_character,
      "Bearer #{t} #{t}" => :invalid_character, "Bearer #{t},x" => :invalid_character,
      %(Bearer "#{t}) => :unterminated_quote, "Bearer #{"a" * 5000}" => :credential_too_long }.each do |value, reason|
      get "/", {}, "HTTP_AUTHORIZATION" => value
      assert_unauthorized(challenge: 'Bearer realm="api", error="invalid_request"')
      assert_equal reason, last_request.env["tessera.rejection"], value[0, 40]
    end
    ["Bearer tss_nonsense", "Bearer #{t}x"].each do |value|
      get "/", {}, "HTTP_AUTHORIZATION" => value
      assert_unauthorized(challenge: BEARER_INVALID)
    end
    @clock.advance(60)
    get "/", {}, "HTTP_AUTHORIZATION" => "Bearer #{t}"
    assert_unauthorized(challenge: BEARER_INVALID)
    assert_equal :expired, last_request.env["tessera.rejection"]
  end

  def test_a_realm_that_cannot_be_a_quoted_string_is_refused_when_the_middleware_is_built
    # Each would have broken the WWW-Authenticate header (CR LF: a header of the realm's choice).
    ['my "api"', "a\\b", "api\r\nSet-Cookie: a=b", "api\n", "a\tb", "a\u0000", "a\u007F", :"a\"b", nil,
     42].each do |realm|
      error = assert_raises(ArgumentError, realm.inspect) { build_middleware(realm: realm) }
      assert_match(/realm: a String without double quotes, backslashes or control characters/, error.message)
    end
    assert_raises(ArgumentError) { Tessera::Rack::Authenticate.challenge("api\r\n") }
    # Anything else goes in as it is.
    assert_equal [401, 'Token realm="Reports API (v2)", Bearer realm="Reports API (v2)"'],
                 answer(realm: "Reports API (v2)")
    assert_equal [401, 'Bearer realm="reports"'], answer(realm: :reports, schemes: %i[bearer])
  end

  def test_only_the_headers_and_schemes_given_are_read
    middleware_options.merge!(headers: ["Authorization"], schemes: %i[token api_key])
    t = @store.issue_session("alice").token
    ["Token token=#{t}", "token #{t}", "ApiKey #{t}", "Api-Key #{t}"].each do |value|
      get "/", {}, "HTTP_AUTHORIZATION" => value
      assert_equal 200, last_response.status, value
    end
    # A scheme not accepted is refused before the token is verified; no Bearer challenge for it.
    get "/", {}, "HTTP_AUTHORIZATION" => "Bearer #{t}"
    assert_unauthorized(challenge: 'Token realm="api"')
    assert_equal :scheme_not_accepted, last_request.env["tessera.rejection"]
    # A header not read is not looked at: as if absent.
    get "/", {}, "HTTP_AUTH_TOKEN" => t, "HTTP_X_API_KEY" => t
    assert_unauthorized(challenge: 'Token realm="api"')
    assert_equal :missing_credential, last_request.env["tessera.rejection"]
    get "/", {}, "HTTP_AUTHORIZATION" => "Basic dXNlcjpwYXNz", "HTTP_AUTH_TOKEN" => t
    assert_unauthorized(challenge: 'Token realm="api"')
    assert_equal :unknown_scheme, last_request.env["tessera.rejection"]
  end

  def test_headers_are_named_case_insensitively_and_read_in_the_usual_order
    middleware_options.merge!(headers: %w[x-api-key AUTH-TOKEN])
    t = @store.issue_session("alice")
    get "/", {}, "HTTP_X_API_KEY" => t.token, "HTTP_AUTHORIZATION" => "Bearer tss_ignored"
    assert_equal 200, last_response.status
    assert_equal Tessera::Credential.new(:bare, t.token), last_request.env["tessera.credential"]
    # Auth-Token comes before X-Api-Key, as for every request.
    get "/", {}, "HTTP_X_API_KEY" => t.token, "HTTP_AUTH_TOKEN" => "tss_broken"
    assert_unauthorized(challenge: 'Token realm="api"')
    assert_equal :malformed, last_request.env["tessera.rejection"]
  end

  def test_unknown_headers_schemes_and_bodies_are_refused_when_the_middleware_is_built
    { { headers: ["Authorization", "Cookie"] } => /headers: unknown cookie/,
      { schemes: %i[token basic] } => /schemes: unknown basic/,
      { body: 401 } => /body: a Hash, an Array, a String or a callable/,
      { forbidden_body: nil } => /forbidden_body: a Hash/ }.each do |options, message|
      error = assert_raises(ArgumentError) { build_middleware(**options) }
      assert_match message, error.message
    end
  end

  def test_static_scopes_and_tenant_that_are_not_text_are_refused_when_the_middleware_is_built
    # Each would have been a TypeError (a 500) on every request, or worse: false, "no scope".
    { { scopes: "reports:read" } => /scopes: an Array of Strings of UTF-8 text, nil or a callable/,
      { scopes: ["reports:read", 1] } => /scopes: an Array/,
      { scopes: ["\xFF".b] } => /scopes: an Array/,
      { scopes: false } => /scopes: an Array/,
      { tenant: 42 } => /tenant: a String of UTF-8 text, nil or a callable/,
      { tenant: ["acme"] } => /tenant: a String/,
      { tenant: false } => /tenant: a String/,
      { tenant: "\xFF".b } => /tenant: a String/ }.each do |options, message|
      error = assert_raises(ArgumentError, options.inspect) do
        build_middleware(**options)
      end
      assert_match message, error.message
    end
  end

  def test_static_requirements_no_token_can_meet_are_refused_when_the_middleware_is_built
    # Each would have refused every token (403), or raised on every request (500).
    [{ scopes: ["reports:read "] }, { scopes: [""] }, { tenant: "a" * 256 },
     { tenant: "acme\n" }].each do |options|
      assert_raises(Tessera::InvalidArgument, options.inspect) do
        build_middleware(**options)
      end
    end
    build_middleware(tenant: "acme", scopes: ["reports:read"])
  end

  def test_static_scopes_and_tenant_given_as_symbols_or_in_another_encoding_still_apply
    middleware_options.merge!(tenant: "caf\xE9".b.force_encoding(Encoding::ISO_8859_1), scopes: [:"reports:read"])
    key = @store.issue_api_key("café", scopes: ["reports:read"])
    other = @store.issue_api_key("acme", scopes: ["reports:read"])
    get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_equal 200, last_response.status
    get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey #{other.token}"
    assert_forbidden
    assert_equal :tenant_mismatch, last_request.env["tessera.rejection"]
  end

  def test_a_requirement_is_judged_as_the_store_reads_its_encoding
    # What a callable gives is read as Store#verify reads it: transcoded from its encoding,
    # bytes as UTF-8 only when tagged BINARY. Text the store cannot read is a 401, never an
    # exception (a US-ASCII String with bytes above 127 is not valid US-ASCII, whatever bytes).
    cafe = "caf\xC3\xA9".b
    ascii = cafe.dup.force_encoding(Encoding::US_ASCII)
    tenants = { "/latin1" => "caf\xE9".b.force_encoding(Encoding::ISO_8859_1), "/binary" => cafe, "/ascii" => ascii }
    middleware_options.merge!(tenant: ->(env) { tenants.fetch(env["PATH_INFO"], cafe) },
                              scopes: ->(env) { env["PATH_INFO"] == "/ascii-scope" ? [ascii] : [cafe] })
    key = @store.issue_api_key("café", scopes: ["café"])
    %w[/latin1 /binary /binary-scope].each do |path|
      get path, {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
      assert_equal 200, last_response.status, path
    end
    get "/ascii", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_unauthorized
    assert_equal :tenant_unavailable, last_request.env["tessera.rejection"]
    get "/ascii-scope", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_unauthorized
    assert_equal :scopes_unavailable, last_request.env["tessera.rejection"]
  end

  def test_the_credential_goes_to_the_app_with_the_record
    t = @store.issue_session("alice")
    get "/", {}, "HTTP_AUTHORIZATION" => "Api-Key #{t.token}"
    assert_equal 200, last_response.status
    assert_equal Tessera::Credential.new(:api_key, t.token), last_request.env["tessera.credential"]
  end

  def test_a_requirement_the_request_cannot_name_refuses_it
    middleware_options.merge!(tenant: ->(env) { env["PATH_INFO"][%r{\A/(\w+)}, 1] },
                              scopes: ->(env) { env["PATH_INFO"].end_with?("/open") ? [] : nil })
    key = @store.issue_api_key("acme", scopes: ["reports:read"])
    get "/acme/open", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_equal 200, last_response.status
    # No tenant in the path: the callable gives nil, which must not mean "any tenant".
    get "/-/open", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_unauthorized
    assert_equal :tenant_unavailable, last_request.env["tessera.rejection"]
    get "/acme/reports", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_unauthorized
    assert_equal :scopes_unavailable, last_request.env["tessera.rejection"]
  end

  def test_a_requirement_the_request_cannot_name_has_its_own_reason_not_a_valid_tokens
    # :tenant_mismatch and :scope_denied say "a valid token, not allowed here" (403); a token
    # that was never verified gets reasons of its own, in the env and in the body callable.
    middleware_options.merge!(tenant: ->(env) { env["HTTP_X_TENANT"] },
                              scopes: ->(env) { env["PATH_INFO"] == "/no-scopes" ? nil : ["reports:read"] },
                              body: ->(_env, reason) { { "error" => reason } })
    key = @store.issue_api_key("acme", scopes: ["reports:read"])
    get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_unauthorized({ "error" => "tenant_unavailable" })
    assert_equal :tenant_unavailable, last_request.env["tessera.rejection"]
    get "/no-scopes", {}, "HTTP_AUTHORIZATION" => "Bearer #{key.token}", "HTTP_X_TENANT" => "acme"
    assert_unauthorized({ "error" => "scopes_unavailable" }, challenge: BEARER_INVALID)
    assert_equal :scopes_unavailable, last_request.env["tessera.rejection"]
    get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey tss_nonsense"
    assert_equal :tenant_unavailable, last_request.env["tessera.rejection"], "nothing was verified"
    # A tenant no token can have is no tenant either (a 401, not a 500).
    get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}", "HTTP_X_TENANT" => "a" * 256
    assert_unauthorized({ "error" => "tenant_unavailable" })
    # The same token refused for a tenant the request does name: verified, a 403.
    get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}", "HTTP_X_TENANT" => "globex"
    assert_forbidden
    assert_equal :tenant_mismatch, last_request.env["tessera.rejection"]
    get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}", "HTTP_X_TENANT" => "acme"
    assert_equal 200, last_response.status
    assert_nil last_request.env["tessera.rejection"]
  end

  def test_a_requirement_that_is_not_text_refuses_the_request
    middleware_options.merge!(tenant: ->(env) { env["HTTP_X_TENANT"] == "none" ? false : env["HTTP_X_TENANT"] },
                              scopes: ->(env) { env["PATH_INFO"] == "/false" ? false : [] })
    key = @store.issue_api_key("acme")
    get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}", "HTTP_X_TENANT" => "acme"
    assert_equal 200, last_response.status
    # false is not "any tenant"; bytes that are not UTF-8 are not a tenant (401, not 500).
    ["none", "\xFF".b].each do |tenant|
      get "/", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}", "HTTP_X_TENANT" => tenant
      assert_unauthorized
      assert_equal :tenant_unavailable, last_request.env["tessera.rejection"]
    end
    get "/false", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}", "HTTP_X_TENANT" => "acme"
    assert_unauthorized
    assert_equal :scopes_unavailable, last_request.env["tessera.rejection"]
  end

  def test_x_key_must_name_the_x_access_token
    t = @store.issue_session("webitel-user")
    other = @store.issue_session("someone")
    get "/", {}, "HTTP_X_ACCESS_TOKEN" => t.token, "HTTP_X_KEY" => t.id
    assert_equal 200, last_response.status
    get "/", {}, "HTTP_X_ACCESS_TOKEN" => t.token, "HTTP_X_KEY" => other.id
    assert_unauthorized
    assert_equal :x_key_mismatch, last_request.env["tessera.rejection"]
  end

  def test_the_401_body_is_configurable_and_optional_lets_anonymous_requests_through
    middleware_options.merge!(body: ->(_env, reason) { { error: "InvalidKey", why: reason } }, optional: true)
    get "/"
    assert_equal 200, last_response.status
    assert_nil JSON.parse(last_response.body)["subject"]
    get "/", {}, "HTTP_AUTH_TOKEN" => "tss_broken"
    assert_unauthorized({ "error" => "InvalidKey", "why" => "malformed" })
  end

  def test_a_string_body_is_sent_as_text
    middleware_options.merge!(body: "Bad caller\n", forbidden_body: ->(_env, _reason) { "no" }, scopes: ["reports:read"])
    get "/"
    assert_equal [401, "text/plain; charset=utf-8", "11", "Bad caller\n"],
                 [last_response.status, last_response.headers["content-type"], last_response.headers["content-length"],
                  last_response.body]
    get "/", {}, "HTTP_AUTH_TOKEN" => @store.issue_session("alice").token
    assert_equal [403, "text/plain; charset=utf-8", "no"],
                 [last_response.status, last_response.headers["content-type"], last_response.body]
  end

  def test_a_body_callable_that_gives_nil_sends_an_empty_body
    middleware_options.merge!(body: ->(_env, _reason) {}, forbidden_body: ["forbidden"], scopes: ["reports:read"])
    get "/"
    assert_equal [401, "0", ""], [last_response.status, last_response.headers["content-length"], last_response.body]
    assert_equal CHALLENGE, last_response.headers["www-authenticate"]
    get "/", {}, "HTTP_AUTH_TOKEN" => @store.issue_session("bob").token
    assert_equal [403, "application/json", ["forbidden"]],
                 [last_response.status, last_response.headers["content-type"], JSON.parse(last_response.body)]
  end

  def test_a_store_given_as_a_callable_is_opened_once_per_process
    stores = []
    file = path
    Tessera::Store.open(file, concurrency: :multi_process) { |s| @token = s.issue_session("dora").token }
    middleware_options.replace(store: -> { stores << Tessera::Store.open(file, concurrency: :multi_process); stores.last })
    3.times do
      get "/", {}, "HTTP_AUTH_TOKEN" => @token
      assert_equal 200, last_response.status
    end
    assert_equal 1, stores.size
    # A forked child (a Puma worker) opens its own store on its first request: the parent's
    # handle answers Tessera::ForkedChild there.
    child = in_child do
      statuses = Array.new(2) { get("/", {}, "HTTP_AUTH_TOKEN" => @token) && last_response.status }
      { "statuses" => statuses, "opened" => stores.size, "issued" => stores.last.issue_session("child").token }
    end
    assert_equal [[200, 200], 2], child.values_at("statuses", "opened"), child.inspect
    assert stores.first.verify(child["issued"]).valid?, "the child's store wrote to the file"
    get "/", {}, "HTTP_AUTH_TOKEN" => @token
    assert_equal 200, last_response.status
    assert_equal 1, stores.size, "the parent keeps its store"
  ensure
    stores.each(&:close)
  end
end
