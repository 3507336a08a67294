# frozen_string_literal: true

require_relative "test_helper"
require "rack/test"
require "rack/lint"
require "tessera/rack"

# The Rack middleware: every seed header form, the 401 answer, scopes and tenants, X-Key, the
# record handed to the app, a store opened lazily in each process.
class RackMiddlewareTest < StoreTest
  include Rack::Test::Methods

  APP = lambda do |env|
    record = env["tessera.record"]
    body = JSON.generate(subject: record&.subject, tenant: record&.tenant, id: record&.id)
    [200, { "content-type" => "application/json" }, [body]]
  end

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

  def assert_unauthorized(body = { "error" => "401 Unauthorized" })
    assert_equal 401, last_response.status
    assert_equal "application/json", last_response.headers["content-type"]
    assert_equal body, JSON.parse(last_response.body)
    assert_match(/\AToken realm=/, last_response.headers["www-authenticate"])
  end

  def test_every_seed_header_form_lets_a_valid_token_through_with_its_record
    login = @store.issue_session("alice", tenant: "acme")
    t = login.token
    forms = {
      "HTTP_AUTHORIZATION" => ["Token token=#{t}", %(Token token="#{t}"), "token #{t}", "Bearer #{t}",
                               "ApiKey #{t}", "  bearer   #{t}  "],
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
    assert_unauthorized
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
    assert_unauthorized
    assert_equal :revoked, last_request.env["tessera.rejection"]
  end

  def test_required_scopes_and_tenant_are_enforced
    middleware_options.merge!(scopes: ["reports:read"], tenant: ->(env) { env["PATH_INFO"][%r{\A/(\w+)}, 1] })
    key = @store.issue_api_key("acme", scopes: ["reports:read"])
    weak = @store.issue_api_key("acme", scopes: ["locations:read"])
    get "/acme/reports", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_equal 200, last_response.status
    get "/globex/reports", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_unauthorized
    assert_equal :tenant_mismatch, last_request.env["tessera.rejection"]
    get "/acme/reports", {}, "HTTP_AUTHORIZATION" => "ApiKey #{weak.token}"
    assert_equal :scope_denied, last_request.env["tessera.rejection"]
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
    assert_equal :tenant_mismatch, last_request.env["tessera.rejection"]
    get "/acme/reports", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}"
    assert_unauthorized
    assert_equal :scope_denied, last_request.env["tessera.rejection"]
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
      assert_equal :tenant_mismatch, last_request.env["tessera.rejection"]
    end
    get "/false", {}, "HTTP_AUTHORIZATION" => "ApiKey #{key.token}", "HTTP_X_TENANT" => "acme"
    assert_unauthorized
    assert_equal :scope_denied, last_request.env["tessera.rejection"]
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
    middleware_options.merge!(body: ->(_env, reason) { JSON.generate(error: "InvalidKey", why: reason) }, optional: true)
    get "/"
    assert_equal 200, last_response.status
    assert_nil JSON.parse(last_response.body)["subject"]
    get "/", {}, "HTTP_AUTH_TOKEN" => "tss_broken"
    assert_unauthorized("error" => "InvalidKey", "why" => "malformed")
  end

  def test_a_store_given_as_a_callable_is_opened_once_per_process
    opened = 0
    file = path
    Tessera::Store.open(file) { |s| @token = s.issue_session("dora").token }
    middleware_options.replace(store: -> { opened += 1; Tessera::Store.open(file) })
    3.times do
      get "/", {}, "HTTP_AUTH_TOKEN" => @token
      assert_equal 200, last_response.status
    end
    assert_equal 1, opened
  end
end
