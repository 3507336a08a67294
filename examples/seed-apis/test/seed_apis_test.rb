# frozen_string_literal: true

require_relative "support"
require_relative "docs"

# 000 Flame Analytics, under /flame.
class FlameTest < SeedTest
  def host
    { "https://api.flameanalytics.com" => "#{SeedServer.base}/flame" }.merge(Docs::FIXES)
  end

  def test_doc_create_session_curl
    answer, = replay(Docs::FLAME_CREATE_SESSION, host)
    assert_equal 200, answer.status, answer.body
    body = answer.json
    assert_equal %w[auth_token id email full_name photo_url], body.keys
    assert_match(/\Atss_\w{66,}\z/, body["auth_token"])
    assert_equal({ "id" => 1, "email" => "support@flameanalytics.com", "full_name" => "Support",
                   "photo_url" => "/defaults/user_small.png" }, body.except("auth_token"))
    assert_equal 200, me(:flame, body["auth_token"]).status
  end

  def test_doc_ruby_example_creates_a_session
    # The document's Ruby snippet, without TLS.
    url = URI("#{SeedServer.base}/flame/v2/sessions")
    http = Net::HTTP.new(url.host, url.port)
    request = Net::HTTP::Post.new(url)
    request["Content-Type"] = "application/json"
    request.body = "{\"user\": \"support@flameanalytics.com\",\"password\": \"apipassword\"}"
    response = http.request(request)
    assert_equal "200", response.code
    assert_equal "support@flameanalytics.com", JSON.parse(response.read_body)["email"]
  end

  def test_doc_api_key_curl_with_a_key_made_by_an_admin_session
    session = flame_session
    created = post("/flame/v2/api_keys", { "label" => "BI export", "locations" => [12, 13], "permissions" => ["reports"] },
                   "Authorization" => "Token token=#{session}")
    assert_equal 201, created.status, created.body
    key = created.json
    assert_match(/\Atsk_\w{66,}\z/, key["api_key"])
    assert_equal({ "label" => "BI export", "organization_id" => 1, "locations" => [12, 13],
                   "permissions" => ["reports"], "created_by" => "support@flameanalytics.com" },
                 key.slice("label", "organization_id", "locations", "permissions", "created_by"))
    assert_equal token_id(key["api_key"]), key["id"]

    subs = host.merge("c42aaacd-45b2-4f76-8574-ce36981cf488" => key["api_key"])
    identity, = replay(Docs::FLAME_API_KEY, subs.merge("/v2/..." => "/v2/me"))
    assert_equal 200, identity.status, identity.body
    assert_equal({ "type" => "api_key", "id" => key["id"], "label" => "BI export",
                   "organization" => { "id" => 1, "name" => "Flame Analytics" }, "locations" => [12, 13],
                   "permissions" => ["reports"], "created_by" => "support@flameanalytics.com" },
                 identity.json.except("created_at"))
    report, = replay(Docs::FLAME_API_KEY, subs.merge("/v2/..." => "/v2/locations/13/reports"))
    assert_equal 200, report.status, report.body
    assert_equal 13, report.json["location_id"]
  end

  def test_doc_delete_session_curl_then_the_token_is_refused
    session = flame_session
    answer, = replay(Docs::FLAME_DELETE_SESSION, host.merge("nugyUyuzq6nqvm_uiesD" => session))
    assert_answer 200, { "message" => "Session deleted" }, answer
    assert_answer 401, { "error" => "401 Unauthorized" }, me(:flame, session)
    assert_answer 401, { "error" => "401 Unauthorized" },
                  delete("/flame/v2/sessions", "Authorization" => "Token token=#{session}"), "a second delete"
  end

  def test_delete_session_with_the_access_token_parameter
    session = flame_session
    assert_equal 200, delete("/flame/v2/sessions?access_token=#{session}").status
    assert_equal 401, me(:flame, session).status
    assert_answer 401, { "error" => "401 Unauthorized" }, delete("/flame/v2/sessions"), "no token at all"
  end

  def test_api_key_with_and_without_the_needed_scope
    session = flame_session
    key12 = flame_key(session, locations: [12], permissions: ["reports"])
    key13 = flame_key(session, locations: [13], permissions: ["visits"])
    report = ->(key, loc) { get("/flame/v2/locations/#{loc}/reports", "Authorization" => "ApiKey #{key}") }
    assert_equal 200, report.call(key12, 12).status
    assert_answer 403, { "error" => "403 Forbidden" }, report.call(key12, 13), "another location"
    assert_answer 403, { "error" => "403 Forbidden" }, report.call(key13, 13), "no reports permission"
    assert_answer 403, { "error" => "403 Forbidden" }, report.call(key13, 12), "neither"
    assert_answer 401, { "error" => "401 Unauthorized" }, report.call(key12, 21), "another organization's location"
    assert_answer 401, { "error" => "401 Unauthorized" }, report.call(key12, 999), "no such location"
    # Sessions carry their user's scopes: the admin has every location, the analyst only 12.
    assert_equal 200, get("/flame/v2/locations/14/reports", "Authorization" => "Token token=#{session}").status
    analyst = flame_session("user" => "analyst@flameanalytics.test", "password" => "analystpass1")
    assert_equal 200, get("/flame/v2/locations/12/reports", "Authorization" => "Token token=#{analyst}").status
    assert_equal 403, get("/flame/v2/locations/13/reports", "Authorization" => "Token token=#{analyst}").status
  end

  def test_a_token_under_the_other_scheme_is_a_401_whatever_its_scopes
    analyst = flame_session("user" => "analyst@flameanalytics.test", "password" => "analystpass1") # location 12 only
    key = flame_key(flame_session, locations: [12], permissions: ["reports"])
    report = ->(auth, loc) { get("/flame/v2/locations/#{loc}/reports", "Authorization" => auth) }
    unauthorized = { "error" => "401 Unauthorized" }
    assert_answer 401, unauthorized, report.call("ApiKey #{analyst}", 13), "a session as ApiKey, at a location it lacks"
    assert_answer 401, unauthorized, report.call("ApiKey #{analyst}", 12), "a session as ApiKey, at its location"
    assert_answer 401, unauthorized, report.call("Token token=#{key}", 13), "a key as a session, at a location it lacks"
    assert_answer 403, { "error" => "403 Forbidden" }, report.call("Token token=#{analyst}", 13), "the right scheme"
  end

  def test_only_an_organization_admin_session_creates_api_keys
    body = { "locations" => [12], "permissions" => ["reports"] }
    analyst = flame_session("user" => "analyst@flameanalytics.test", "password" => "analystpass1")
    assert_answer 403, { "error" => "403 Forbidden" },
                  post("/flame/v2/api_keys", body, "Authorization" => "Token token=#{analyst}"), "a non-admin"
    key = flame_key(flame_session, locations: [12], permissions: ["reports"])
    assert_answer 401, { "error" => "401 Unauthorized" },
                  post("/flame/v2/api_keys", body, "Authorization" => "ApiKey #{key}"), "an API key"
    assert_answer 401, { "error" => "401 Unauthorized" }, post("/flame/v2/api_keys", body), "nobody"
    # The other organization's admin gets keys of that organization only.
    other = flame_session("user" => "admin@other-retail.test", "password" => "otherpass1")
    assert_equal 422, post("/flame/v2/api_keys", body, "Authorization" => "Token token=#{other}").status
    theirs = flame_key(other, locations: [21], permissions: ["reports"])
    assert_equal({ "id" => 2, "name" => "Other Retail" }, me(:flame_key, theirs).json["organization"])
  end

  def test_api_key_requests_are_checked
    auth = { "Authorization" => "Token token=#{flame_session}" }
    { { "locations" => [99], "permissions" => ["reports"] } => "unknown location 99",
      { "locations" => [12], "permissions" => ["delete_everything"] } => "unknown permission delete_everything",
      { "locations" => [], "permissions" => ["reports"] } => "choose at least one location and one permission",
      {} => "choose at least one location and one permission" }.each do |body, error|
      assert_answer 422, { "error" => error }, post("/flame/v2/api_keys", body, auth), body.inspect
    end
    assert_answer 400, { "error" => "the body is not valid JSON" }, post("/flame/v2/api_keys", "{oops", auth)
  end

  def test_api_keys_are_listed_without_secrets_and_revoked_by_id
    session = flame_session
    auth = { "Authorization" => "Token token=#{session}" }
    key = flame_key(session, locations: [14], permissions: ["exports"], label: "to revoke")
    listed = get("/flame/v2/api_keys", auth)
    assert_equal 200, listed.status
    refute_includes listed.body, key, "the list shows no key text"
    entry = listed.json["api_keys"].find { |k| k["id"] == token_id(key) }
    assert_equal "to revoke", entry["label"]
    assert_equal 200, me(:flame_key, key).status
    assert_answer 200, { "id" => token_id(key), "revoked" => true }, delete("/flame/v2/api_keys/#{token_id(key)}", auth)
    assert_equal 401, me(:flame_key, key).status
    refute(get("/flame/v2/api_keys", auth).json["api_keys"].any? { |k| k["id"] == token_id(key) })
    assert_equal 404, delete("/flame/v2/api_keys/#{token_id(key)}x", auth).status
  end

  def test_login_errors
    assert_answer 401, { "error" => "Invalid user or password" },
                  post("/flame/v2/sessions", { "user" => "support@flameanalytics.com", "password" => "nope" })
    assert_answer 401, { "error" => "Invalid user or password" },
                  post("/flame/v2/sessions", { "user" => "nobody@flameanalytics.com", "password" => "apipassword" })
    assert_answer 400, { "error" => "user and password are required" }, post("/flame/v2/sessions", { "user" => "x" })
    assert_answer 400, { "error" => "the body is not valid JSON" }, post("/flame/v2/sessions", "{\"user\":")
  end

  def test_bytes_the_app_cannot_use_get_client_errors
    assert_answer 400, nil, post("/flame/v2/sessions?a=%", FLAME_LOGIN), "a query string Rack cannot parse"
    assert_answer 401, { "error" => "Invalid user or password" },
                  post("/flame/v2/sessions", %({"user":"\xFF@flameanalytics.com","password":"x"}).b), "a login that is not UTF-8"
    agent = "Agent\tX #{"\u00e9" * 100}".b
    assert_equal 200, post("/flame/v2/sessions", FLAME_LOGIN, "User-Agent" => agent).status,
                 "a user agent with a tab, cut inside a character"
    label = "a\u0001b#{"\u00e9" * 200}"
    a = post("/flame/v2/api_keys", { "label" => label, "locations" => [12], "permissions" => ["reports"] },
             "Authorization" => "Token token=#{flame_session}")
    assert_equal 201, a.status, a.body
    assert_equal "a b#{"\u00e9" * 98}", a.json["label"], "control character replaced, cut at 200 bytes"
  end

  def test_only_the_documented_header_forms
    session = flame_session
    key = flame_key(session, locations: [12], permissions: ["reports"])
    unauthorized = { "error" => "401 Unauthorized" }
    assert_equal 200, get("/flame/me", "Authorization" => %(Token token="#{session}")).status, "quoted"
    assert_answer 401, unauthorized, get("/flame/me"), "no header"
    assert_answer 401, unauthorized, get("/flame/me", "Authorization" => "ApiKey #{session}"), "a session as ApiKey"
    assert_answer 401, unauthorized, get("/flame/me", "Authorization" => "Token token=#{key}"), "a key as a session"
    assert_answer 401, unauthorized, get("/flame/me", "Authorization" => "Bearer #{session}"), "Bearer"
    assert_answer 401, unauthorized, get("/flame/me", "Auth-Token" => session), "another API's header"
    assert_answer 401, unauthorized, get("/flame/me", "Authorization" => "ApiKey c42aaacd-45b2-4f76-8574-ce36981cf488"),
                  "the document's example key"
    # Another last character (one chance in 62 that "x" was already the last one).
    altered = session[0..-2] + (session[-1] == "x" ? "y" : "x")
    assert_answer 401, unauthorized, get("/flame/me", "Authorization" => "Token token=#{altered}"), "altered"
  end
end

# 001 EyeNetra, under /eyenetra.
class EyeNetraTest < SeedTest
  DOC_USER = { "id" => 1, "firstName" => "user", "lastName" => "user", "email" => "user@eyenetra.com",
               "superAdmin" => false, "canAdmin" => false, "canPrescribe" => false, "appointments" => [],
               "locale" => "en-US" }.freeze
  DOC_ORGANIZATION = { "id" => 1, "logo" => "assets/images/eyenetra-brand.png", "prescribers" => true,
                       "plan" => "professional", "created_at" => "2016-06-20T19:51:40.064Z" }.freeze

  def header(token)
    name, value = Docs::EYENETRA_HEADER.sub("123456......abcdef", token).split(": ", 2)
    { name => value }
  end

  def test_doc_login_body_gives_the_documents_answer
    answer = post("/eyenetra/api/v1/login", Docs::EYENETRA_LOGIN_BODY, "Content-Type" => "application/json")
    assert_equal 200, answer.status, answer.body
    body = answer.json
    assert_equal %w[info token user organization], body.keys
    assert_equal "Success", body["info"]
    assert_equal DOC_USER, body["user"]
    assert_equal DOC_ORGANIZATION, body["organization"]
    me = get("/eyenetra/me", header(body["token"]))
    assert_equal 200, me.status
    assert_equal DOC_USER, me.json["user"]
    assert_nil me.json.fetch("expires_at"), "kept until the user logs off with it"
  end

  def test_doc_logout_then_the_key_is_refused
    token = eyenetra_login
    assert_answer 200, { "info" => "Success" }, delete("/eyenetra/api/v1/logout", header(token))
    assert_answer 401, { "info" => "Unauthorized" }, get("/eyenetra/me", header(token))
    assert_answer 401, { "info" => "Unauthorized" }, delete("/eyenetra/api/v1/logout", header(token)), "twice"
  end

  def test_multiple_logins_and_logging_out_one_leaves_the_others
    tokens = Array.new(3) { eyenetra_login }
    assert_equal 3, tokens.uniq.size
    tokens.each { |t| assert_equal 200, me(:eyenetra, t).status }
    assert_equal 200, delete("/eyenetra/api/v1/logout", header(tokens[1])).status
    3.times do # new connections: every worker is asked
      assert_equal 200, me(:eyenetra, tokens[0]).status
      assert_equal 401, me(:eyenetra, tokens[1]).status
      assert_equal 200, me(:eyenetra, tokens[2]).status
    end
  end

  def test_login_errors_and_header_forms
    failure = { "info" => "Failure", "error" => "Invalid email or password" }
    assert_answer 401, failure, post("/eyenetra/api/v1/login", { "email" => "user@eyenetra.com", "password" => "Password1" })
    assert_answer 401, failure, post("/eyenetra/api/v1/login", { "email" => "nobody@eyenetra.com", "password" => "password" })
    assert_answer 400, { "info" => "Failure", "error" => "email and password are required" },
                  post("/eyenetra/api/v1/login", { "email" => "user@eyenetra.com" })
    token = eyenetra_login
    assert_equal 200, get("/eyenetra/me", "Authorization" => "Token token=#{token}").status, "unquoted"
    assert_equal 401, get("/eyenetra/me", "Authorization" => "ApiKey #{token}").status
    assert_equal 401, get("/eyenetra/me", "Authorization" => %(Token token="#{token})).status, "unterminated quote"
    assert_equal 401, get("/eyenetra/me").status
  end
end

# 002 BookingBug, under /bookingbug.
class BookingBugTest < SeedTest
  UNAUTHORIZED = { "error" => "401 Unauthorized" }.freeze

  def subs(extra = {})
    { "https://{host}.bookingbug.com" => "#{SeedServer.base}/bookingbug", "{app-id}" => "tessera-demo",
      "{app-key}" => "tessera-demo-key", "{email}" => "admin@bookingbug.test", "{password}" => "adminpass1" }
      .merge(Docs::FIXES).merge(extra)
  end

  def auth(token)
    BB_APP.merge("Auth-Token" => token)
  end

  def test_doc_login_curl_gives_the_documents_answer
    answer, = replay(Docs::BOOKINGBUG_LOGIN, subs)
    assert_equal 200, answer.status, answer.body
    body = answer.json
    token = body.delete("auth_token")
    api = "#{SeedServer.base}/bookingbug/api/v1"
    admin = "#{api}/admin/37000/administrators/1"
    assert_equal({
                   "email" => "admin@bookingbug.test", "company_id" => 37_000, "path" => api,
                   "_embedded" => {
                     "members" => [],
                     "administrators" => [{
                       "name" => "Demo Admin", "email" => "admin@bookingbug.test", "role" => "owner",
                       "company_id" => 37_000, "company_name" => "Tessera Demo HQ",
                       "_links" => { "self" => { "href" => admin }, "edit" => { "href" => "#{admin}/edit" },
                                     "company" => { "href" => "#{api}/admin/37000/company" },
                                     "login" => { "href" => "#{api}/login/admin/37000" },
                                     "base_login" => { "href" => "#{api}/login/admin" } }
                     }]
                   },
                   "_links" => { "self" => { "href" => "#{api}/login/37000" },
                                 "administrator" => { "href" => admin, "templated" => true } }
                 }, body)
    me = get("/bookingbug/me", auth(token))
    assert_equal 200, me.status
    assert_equal 37_000, me.json["company_id"]
    assert_equal 200, get("/bookingbug/api/v1/admin/37000/company", auth(token)).status, "the company link works"
  end

  def test_doc_parent_child_login_curl_at_a_child_company
    answer, = replay(Docs::BOOKINGBUG_PARENT_CHILD_LOGIN, subs("{company_id}" => 37_001))
    assert_equal 200, answer.status, answer.body
    assert_equal 37_001, answer.json["company_id"]
    me = get("/bookingbug/me", auth(answer.json["auth_token"]))
    assert_equal [37_001, "Tessera Demo North", nil], me.json.values_at("company_id", "company_name", "parent_auth_token_id")
  end

  def test_doc_admin_login_curl_with_credentials
    answer, = replay(Docs::BOOKINGBUG_ADMIN_LOGIN, subs("{company_id}" => 37_002))
    assert_equal 200, answer.status, answer.body
    assert_equal 37_002, answer.json["company_id"]
    assert_equal "#{SeedServer.base}/bookingbug/api/v1/login/37002", answer.json["_links"]["self"]["href"]
    assert_equal 37_002, get("/bookingbug/me", auth(answer.json["auth_token"])).json["company_id"]
  end

  def test_admin_login_with_the_parent_token_gives_a_child_token
    parent = bookingbug_login
    answer = post("/bookingbug/api/v1/login/admin/37001", nil, auth(parent))
    assert_equal 200, answer.status, answer.body
    child = answer.json["auth_token"]
    refute_equal parent, child
    assert_equal 37_001, answer.json["company_id"]
    me = get("/bookingbug/me", auth(child)).json
    assert_equal [37_001, token_id(parent)], me.values_at("company_id", "parent_auth_token_id")
    company = ->(token, id) { get("/bookingbug/api/v1/admin/#{id}/company", auth(token)) }
    # The parent's token is reused for every child company; the child's only for its own.
    [37_000, 37_001, 37_002].each { |id| assert_equal 200, company.call(parent, id).status, "parent at #{id}" }
    assert_equal 200, company.call(child, 37_001).status
    assert_answer 401, UNAUTHORIZED, company.call(child, 37_002), "a sibling company"
    assert_answer 401, UNAUTHORIZED, company.call(child, 37_000), "the parent company"
    assert_equal [37_000, 37_001], company.call(parent, 37_000).json.values_at("id", "child_ids").flatten.first(2)
    # A child token cannot climb back up, nor reach a sibling.
    assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login/admin/37000", nil, auth(child))
    assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login/admin/37002", nil, auth(child))
  end

  def test_doc_logout_curl_kills_the_session_and_its_child_tokens
    parent = bookingbug_login
    child = post("/bookingbug/api/v1/login/admin/37002", nil, auth(parent)).json["auth_token"]
    other = bookingbug_login
    assert_equal 200, get("/bookingbug/me", auth(child)).status
    answer, = replay(Docs::BOOKINGBUG_LOGOUT, subs("{auth-token}" => parent))
    assert_answer 200, { "message" => "Logged out" }, answer
    assert_answer 401, UNAUTHORIZED, get("/bookingbug/me", auth(parent)), "the parent"
    assert_answer 401, UNAUTHORIZED, get("/bookingbug/me", auth(child)), "its child"
    assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login/admin/37001", nil, auth(parent)), "no new child"
    assert_equal 200, get("/bookingbug/me", auth(other)).status, "another login of the same admin"
  end

  def test_logging_out_a_child_token_leaves_the_parent
    parent = bookingbug_login
    child = post("/bookingbug/api/v1/login/admin/37001", nil, auth(parent)).json["auth_token"]
    assert_equal 200, delete("/bookingbug/api/v1/login", auth(child)).status
    assert_equal 401, get("/bookingbug/me", auth(child)).status
    assert_equal 200, get("/bookingbug/me", auth(parent)).status
  end

  def test_an_unknown_company_at_the_admin_endpoint_is_404_for_a_good_token_only
    company = "/bookingbug/api/v1/admin/99999/company"
    token = bookingbug_login
    assert_answer 404, { "error" => "404 Not Found" }, get(company, auth(token))
    assert_answer 401, UNAUTHORIZED, get(company, auth("tss_nonsense")), "a bad token"
    assert_answer 401, UNAUTHORIZED, get(company, BB_APP), "no token"
    # The admin logins answer the same.
    assert_answer 404, { "error" => "404 Not Found" }, post("/bookingbug/api/v1/login/admin/99999", nil, auth(token))
    assert_answer 404, { "error" => "404 Not Found" }, post("/bookingbug/api/v1/login/admin/99999", BB_ADMIN, BB_APP)
    assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login/admin/99999", nil, auth("tss_nonsense"))
  end

  def test_app_id_and_app_key_are_required
    token = bookingbug_login
    [{}, { "App-Id" => "tessera-demo" }, { "App-Key" => "tessera-demo-key" },
     { "App-Id" => "tessera-demo", "App-Key" => "wrong" }, { "App-Id" => "other", "App-Key" => "tessera-demo-key" }]
      .each do |app|
      assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login", BB_ADMIN, app), "login with #{app.keys}"
      assert_answer 401, UNAUTHORIZED, get("/bookingbug/me", app.merge("Auth-Token" => token)), "me with #{app}"
    end
    assert_equal 200, get("/bookingbug/me", auth(token)).status
  end

  def test_a_missing_or_bad_auth_token_is_the_documents_401
    answer = get("/bookingbug/me", BB_APP)
    assert_answer 401, UNAUTHORIZED, answer, "no Auth-Token"
    assert_equal ({ "error" => "401 Unauthorized" }).to_json, answer.body
    assert_answer 401, UNAUTHORIZED, get("/bookingbug/me", auth("tss_nonsense")), "garbage"
    assert_answer 401, UNAUTHORIZED, get("/bookingbug/me", BB_APP.merge("Authorization" => "Token token=#{bookingbug_login}")),
                  "Authorization instead of Auth-Token"
    assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login/admin/37001", nil, BB_APP), "admin login, nothing"
  end

  def test_login_errors
    assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login", BB_ADMIN.merge("password" => "x"), BB_APP)
    assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login/admin/37001", BB_ADMIN.merge("password" => "x"), BB_APP)
    north = { "email" => "north@bookingbug.test", "password" => "northpass1" }
    assert_equal 37_001, post("/bookingbug/api/v1/login", north, BB_APP).json["company_id"]
    assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login", north.merge("id" => 37_000), BB_APP), "above"
    assert_answer 401, UNAUTHORIZED, post("/bookingbug/api/v1/login/admin/37002", north, BB_APP), "a sibling"
    assert_answer 404, { "error" => "404 Not Found" }, post("/bookingbug/api/v1/login", BB_ADMIN.merge("id" => 99), BB_APP)
  end
end

# 003 Webitel, under /webitel.
class WebitelTest < SeedTest
  def host
    { "https://api.webitel.com:10022" => "#{SeedServer.base}/webitel" }
  end

  def test_doc_login_curl
    before = (Time.now.to_r * 1000).to_i
    answer, = replay(Docs::WEBITEL_LOGIN, host)
    assert_equal 200, answer.status, answer.body
    body = answer.json
    assert_equal %w[key username expires token role], body.keys
    assert_equal ["100@mydomain.com", 2], body.values_at("username", "role")
    assert_equal token_id(body["token"]), body["key"], "key is the token's public id"
    week = 7 * 24 * 3600 * 1000
    assert_includes (before + week - 5000)..(before + week + 60_000), body["expires"], "epoch milliseconds"
    me = get("/webitel/me", "X-Access-Token" => body["token"], "X-Key" => body["key"])
    assert_equal({ "key" => body["key"], "username" => "100@mydomain.com", "domain" => "mydomain.com", "role" => 2,
                   "expires" => body["expires"] }, me.json)
  end

  def test_doc_logout_curl_then_the_token_is_refused
    login = webitel_login
    answer, = replay(Docs::WEBITEL_LOGOUT,
                     host.merge("yJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjE0NDIwMDUzOTY0ODh9.xCf6fbvOPc-CkYdD9MPxLXBEukHm1KX6w5zN5q55OBQ" => login["token"],
                                "c1d19874-f2bb-4284-94ac-043cb97288fe" => login["key"]))
    assert_answer 200, { "status" => "OK", "info" => "Successful logout." }, answer
    bad_caller = { "status" => "error", "info" => "Bad caller" }
    assert_answer 401, bad_caller, me(:webitel, login["token"], key: login["key"])
    assert_answer 401, bad_caller, post("/webitel/logout", nil, "X-Access-Token" => login["token"], "X-Key" => login["key"])
  end

  def test_login_400_404_401_as_documented
    assert_answer 400, { "status" => "error", "info" => "User name is required" },
                  post("/webitel/login", { "password" => "secret" })
    assert_answer 400, { "status" => "error", "info" => "User name is required" }, post("/webitel/login", "")
    assert_answer 404, { "status" => "error", "info" => "User not found" },
                  post("/webitel/login", { "username" => "999@mydomain.com", "password" => "secret" })
    assert_answer 401, { "status" => "error", "info" => "Invalid credentials" },
                  post("/webitel/login", { "username" => "100@mydomain.com", "password" => "Secret" })
    assert_answer 401, { "status" => "error", "info" => "Invalid credentials" },
                  post("/webitel/login", { "username" => "100@mydomain.com" })
  end

  def test_logout_needs_the_x_key_of_that_token
    mine = webitel_login
    theirs = webitel_login("admin@mydomain.com", "adminpass1")
    bad_caller = { "status" => "error", "info" => "Bad caller" }
    logout = ->(token, key) { post("/webitel/logout", nil, { "X-Access-Token" => token, "X-Key" => key }.compact) }
    assert_answer 401, bad_caller, logout.call(mine["token"], theirs["key"]), "another token's key"
    assert_answer 401, bad_caller, logout.call(mine["token"], nil), "no X-Key"
    assert_answer 401, bad_caller, logout.call(mine["token"], "8fd26a17-eb28-4c74-aa6f-a3794f4f466c"), "the document's key"
    assert_answer 401, bad_caller, post("/webitel/logout", nil, "X-Key" => mine["key"]), "no X-Access-Token"
    assert_equal 200, me(:webitel, mine["token"], key: mine["key"]).status, "still logged in"
    assert_equal 200, logout.call(mine["token"], mine["key"]).status
    assert_equal 200, me(:webitel, theirs["token"], key: theirs["key"]).status, "the other session lives on"
  end

  def test_roles_come_from_the_accounts_file
    assert_equal 1, webitel_login("admin@mydomain.com", "adminpass1")["role"]
    root = webitel_login("root", "rootpass1")
    assert_equal 0, root["role"]
    assert_equal "root", me(:webitel, root["token"], key: root["key"]).json["domain"]
  end
end

# 004 Overvis, under /overvis.
class OvervisTest < SeedTest
  def host
    { "https://ocp.overvis.com" => "#{SeedServer.base}/overvis" }
  end

  def test_doc_authenticate_curl
    answer, = replay(Docs::OVERVIS_AUTHENTICATE, host)
    assert_equal 200, answer.status, answer.body
    body = answer.json
    assert_equal %w[token expiresOn], body.keys
    assert_match(/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\z/, body["expiresOn"])
    assert_in_delta Time.now + (24 * 3600), Time.iso8601(body["expiresOn"]), 120
    me = me(:overvis, body["token"])
    assert_equal [OVERVIS_KEY, "Demo API key"], me.json.values_at("apiKey", "name")
  end

  def test_doc_logout_command_deletes_the_token_at_once
    # The document's two commands, and then the token they used (printed to stderr).
    answer, err = replay("#{Docs::OVERVIS_LOGOUT}echo \"TOKEN=$TOKEN\" >&2\n", host)
    assert_answer 200, {}, answer
    token = err[/^TOKEN=(\S+)$/, 1]
    assert_match(/\Atss_/, token)
    assert_answer 401, { "error" => "NotAuthorized" }, me(:overvis, token)
    assert_answer 401, { "error" => "NotAuthorized" },
                  post("/overvis/api/v1/logout/", "null", "Authorization" => "token #{token}"), "logout again"
  end

  def test_invalid_key_and_not_authorized
    invalid = { "error" => "InvalidKey" }
    refused = { "error" => "NotAuthorized" }
    assert_answer 401, invalid, post("/overvis/api/v1/authenticate/",
                                     { "apiKey" => "00000000-0000-4000-8000-000000000000", "password" => OVERVIS_PASSWORD })
    assert_answer 401, invalid, post("/overvis/api/v1/authenticate/", { "password" => OVERVIS_PASSWORD }), "no key"
    assert_answer 401, refused, post("/overvis/api/v1/authenticate/", { "apiKey" => OVERVIS_KEY, "password" => "x" })
    assert_answer 401, refused, post("/overvis/api/v1/authenticate/", { "apiKey" => OVERVIS_KEY }), "no password"
    assert_answer 400, { "error" => "BadRequest" }, post("/overvis/api/v1/authenticate/", "[1,2]")
    assert_equal 200, post("/overvis/api/v1/authenticate", { "apiKey" => OVERVIS_KEY.upcase, "password" => OVERVIS_PASSWORD }).status,
                 "without the trailing slash; the UUID in capitals"
  end

  def test_logout_then_reuse_and_bad_tokens
    token = overvis_login
    other = overvis_login
    assert_answer 200, {}, post("/overvis/api/v1/logout/", "null", "Authorization" => "token #{token}")
    refused = { "error" => "NotAuthorized" }
    assert_answer 401, refused, me(:overvis, token)
    assert_equal 200, me(:overvis, other).status, "another session of the same key"
    assert_answer 401, refused, post("/overvis/api/v1/logout/", "null"), "no token"
    assert_answer 401, refused, get("/overvis/me", "Authorization" => "token cdf2923f-c89f-41e5-91af-f139f0c2e7d0"),
                  "the document's example token"
    assert_answer 401, refused, get("/overvis/me", "Authorization" => "ApiKey #{other}"), "another scheme"
    assert_answer 401, refused, get("/overvis/me", "Authorization" => "Bearer #{other}"), "Bearer"
    # The parser reads `Token token=` as the document's `token` scheme.
    assert_equal 200, get("/overvis/me", "Authorization" => "Token token=#{other}").status
  end
end

# What holds across the five: isolation, workers, restarts, the accounts file, the store file.
class AcrossTest < SeedTest
  def test_health_index_and_unknown_routes
    assert_equal 200, get("/health").status
    assert_equal ["/flame", "/eyenetra", "/bookingbug", "/webitel", "/overvis"], get("/").json["apis"]
    assert_answer 404, { "error" => "404 Not Found" }, get("/flame/v3/nothing")
    assert_answer 404, { "error" => "404 Not Found" }, get("/nothing")
    answer = get("/flame/v2/sessions")
    assert_answer 405, { "error" => "405 Method Not Allowed" }, answer
    assert_equal "POST, DELETE", answer.headers["allow"]
    assert_answer 404, { "error" => "NotFound" }, get("/overvis/api/v2/")
  end

  def test_every_401_carries_a_token_challenge_naming_the_api
    flame = flame_session
    answers = {
      "flame" => [get("/flame/me"), # the middleware's
                  get("/flame/me", "Authorization" => "ApiKey #{flame}"), # the kind check's
                  post("/flame/v2/sessions", FLAME_LOGIN.merge("password" => "x"))], # a failed login
      "eyenetra" => [get("/eyenetra/me", "Authorization" => "Token token=#{flame}")], # another API's token
      "bookingbug" => [get("/bookingbug/me", "Auth-Token" => bookingbug_login), # no App-Id
                       post("/bookingbug/api/v1/login/admin/37001", nil, BB_APP)], # admin login, no token
      "webitel" => [get("/webitel/me", "X-Access-Token" => webitel_login["token"])], # no X-Key
      "overvis" => [post("/overvis/api/v1/authenticate/", { "apiKey" => OVERVIS_KEY, "password" => "x" })]
    }
    answers.each do |api, list|
      list.each_with_index do |answer, i|
        assert_equal 401, answer.status, "#{api} #{i}"
        assert_equal %(Token realm="#{api}"), answer.headers["www-authenticate"], "#{api} #{i}"
      end
    end
  end

  def test_a_token_works_only_under_its_own_prefix
    webitel = webitel_login
    tokens = { flame: flame_session, eyenetra: eyenetra_login, bookingbug: bookingbug_login,
               webitel: webitel["token"], overvis: overvis_login }
    tokens.each do |owner, token|
      tokens.each_key do |api|
        status = me(api, token, key: api == :webitel ? token_id(token) : nil).status
        assert_equal owner == api ? 200 : 401, status, "a #{owner} token at /#{api}/me"
      end
    end
  end

  # Asks /me from 4 threads until every worker answered twice (at most 400 requests): the
  # statuses seen, by worker pid.
  def ask_every_worker(token)
    seen = Hash.new { |h, k| h[k] = [] }
    lock = Mutex.new
    sent = 0
    enough = -> { seen.size >= [SeedServer::WORKERS, 1].max && seen.values.all? { |v| v.size >= 2 } }
    Array.new(4) do
      Thread.new do
        loop do
          break if lock.synchronize { enough.call || (sent += 1) > 400 }

          answer = me(:eyenetra, token)
          lock.synchronize { seen[answer.worker] << answer.status }
        end
      end
    end.each(&:join)
    seen
  end

  def test_a_logout_reaches_every_worker_at_once
    token = eyenetra_login
    before = ask_every_worker(token)
    assert_equal [[SeedServer::WORKERS, 1].max, [200]], [before.size, before.values.flatten.uniq], "before: #{before}"
    assert_equal 200, delete("/eyenetra/api/v1/logout", "Authorization" => %(Token token="#{token}")).status
    after = ask_every_worker(token)
    assert_equal [[SeedServer::WORKERS, 1].max, [401]], [after.size, after.values.flatten.uniq], "after: #{after}"
  end

  def test_an_added_account_logs_in_without_a_restart
    add_account("webitel", "102@mydomain.com", "new-password-2", "role=1")
    assert_equal 1, webitel_login("102@mydomain.com", "new-password-2")["role"]
    accounts = File.read(SeedServer.accounts_path)
    refute_includes accounts, "new-password-2", "no password in clear"
    assert_match(/"login": "102@mydomain.com"/, accounts)
  end

  def test_a_new_password_or_privileges_end_the_accounts_sessions
    add_account("webitel", "104@mydomain.com", "first-password-4")
    webitel = Array.new(2) { webitel_login("104@mydomain.com", "first-password-4") }
    add_account("eyenetra", "changed@eyenetra.test", "first-password-5")
    eyenetra = post("/eyenetra/api/v1/login", { "email" => "changed@eyenetra.test", "password" => "first-password-5" })
               .json["token"]
    admin = { "user" => "promoted@flameanalytics.test", "password" => "flame-password-6" }
    add_account("flame", admin["user"], admin["password"], "admin=true")
    flame = flame_session(admin)
    key = flame_key(flame, locations: [12], permissions: ["reports"])
    other = flame_session # another account's session
    assert_equal [200, 200, 200], [*webitel.map { |w| me(:webitel, w["token"]).status }, me(:eyenetra, eyenetra).status]

    out = add_account("webitel", "104@mydomain.com", "second-password-4")
    assert_match(/: updated in .*; 2 sessions ended$/, out)
    webitel.each { |w| assert_answer 401, { "status" => "error", "info" => "Bad caller" }, me(:webitel, w["token"]) }
    assert_equal 401, post("/webitel/login", { "username" => "104@mydomain.com", "password" => "first-password-4" }).status
    assert_equal 200, me(:webitel, webitel_login("104@mydomain.com", "second-password-4")["token"]).status
    # EyeNetra sessions never expire: only this ends them.
    add_account("eyenetra", "changed@eyenetra.test", "second-password-5")
    assert_answer 401, { "info" => "Unauthorized" }, me(:eyenetra, eyenetra)
    # The same password, without the admin flag: the admin's session ends, the keys it made for
    # the organization live on.
    add_account("flame", admin["user"], admin["password"], "admin=false")
    assert_answer 401, { "error" => "401 Unauthorized" }, me(:flame, flame)
    assert_equal false, me(:flame, flame_session(admin)).json["admin"]
    assert_equal 200, me(:flame_key, key).status
    assert_equal 200, me(:flame, other).status
  end

  def test_a_token_whose_account_left_the_accounts_file_is_refused
    logins = { "flame" => "leaving@flameanalytics.test", "eyenetra" => "leaving@eyenetra.test",
               "bookingbug" => "leaving@bookingbug.test", "webitel" => "leaving@mydomain.com",
               "overvis" => "6f1c2a52-8f43-4b7e-9c0e-2d5a7b3e9f10" }
    logins.each { |seed, login| add_account(seed, login, "leaving-password-7", *("admin=true" if seed == "flame")) }
    flame = flame_session("user" => logins["flame"], "password" => "leaving-password-7")
    tokens = {
      flame: flame,
      eyenetra: post("/eyenetra/api/v1/login", { "email" => logins["eyenetra"], "password" => "leaving-password-7" })
                .json["token"],
      bookingbug: bookingbug_login("email" => logins["bookingbug"], "password" => "leaving-password-7"),
      webitel: webitel_login(logins["webitel"], "leaving-password-7")["token"],
      overvis: post("/overvis/api/v1/authenticate/", { "apiKey" => logins["overvis"], "password" => "leaving-password-7" })
               .json["token"]
    }
    key = flame_key(flame, locations: [12], permissions: ["reports"])
    tokens.each { |api, token| assert_equal 200, me(api, token).status, api }

    data = JSON.parse(File.read(SeedServer.accounts_path))
    logins.each { |seed, login| data[seed]["users"].reject! { |u| u["login"] == login } }
    File.write("#{SeedServer.accounts_path}.tmp", JSON.generate(data))
    File.rename("#{SeedServer.accounts_path}.tmp", SeedServer.accounts_path)

    refused = { flame: { "error" => "401 Unauthorized" }, eyenetra: { "info" => "Unauthorized" },
                bookingbug: { "error" => "401 Unauthorized" }, webitel: { "status" => "error", "info" => "Bad caller" },
                overvis: { "error" => "NotAuthorized" } }
    tokens.each { |api, token| assert_answer 401, refused[api], me(api, token), api }
    assert_answer 401, { "error" => "401 Unauthorized" },
                  post("/flame/v2/api_keys", { "locations" => [12], "permissions" => ["reports"] },
                       "Authorization" => "Token token=#{flame}"), "a removed admin creates no key"
    assert_equal 200, me(:flame_key, key).status, "the organization's key lives on"
  end

  def test_no_password_in_the_accounts_file
    shipped = File.read(File.join(SeedServer::HERE, "accounts.json"))
    %w[apipassword password secret adminpass1 northpass1 analystpass1 DCdcSLmkoZkU5zGI9gpInDbo tessera-demo-key]
      .each { |pw| refute_includes shipped, %(: "#{pw}"), "#{pw} in clear" }
    assert_equal 11, shipped.scan(/"pbkdf2-sha256\$\d+\$\h{32}\$\h{64}"/).size
  end

  def test_the_store_file_keeps_no_token_text
    token = webitel_login["token"]
    key = flame_key(flame_session, locations: [12], permissions: ["reports"])
    data = File.binread(SeedServer.store_path)
    [token, key].each do |t|
      refute_includes data, t
      refute_includes data, t.split("_", 2).last[22, 44], "the secret"
    end
  end

  def test_tokens_survive_a_restart
    flame = flame_session
    bb = bookingbug_login
    child = post("/bookingbug/api/v1/login/admin/37001", nil, BB_APP.merge("Auth-Token" => bb)).json["auth_token"]
    revoked = eyenetra_login
    assert_equal 200, delete("/eyenetra/api/v1/logout", "Authorization" => %(Token token="#{revoked}")).status
    SeedServer.restart
    assert_equal 200, me(:flame, flame).status
    assert_equal 200, me(:bookingbug, child).status
    assert_equal 401, me(:eyenetra, revoked).status
  end

  # A session past its expiry is refused with each API's own 401 answer. The APIs' sessions
  # last a day or more (EyeNetra's never expire), so the test issues each API's session again,
  # as its login made it (subject, tenant, scopes), with a lifetime of one second, through the
  # store file the workers share.
  def test_an_expired_session_gets_each_api_s_401
    $LOAD_PATH.unshift(File.expand_path("../../../bindings/ruby/lib", __dir__))
    require "tessera"
    logins = { flame: flame_session, bookingbug: bookingbug_login, webitel: webitel_login["token"],
               overvis: overvis_login }
    refused = { flame: { "error" => "401 Unauthorized" }, bookingbug: { "error" => "401 Unauthorized" },
                webitel: { "status" => "error", "info" => "Bad caller" }, overvis: { "error" => "NotAuthorized" } }
    short = Tessera::Store.open(SeedServer.store_path, concurrency: :multi_process) do |store|
      logins.to_h do |api, token|
        rec = store.get(token_id(token))
        issued = store.issue_session(rec.subject, tenant: rec.tenant, scopes: rec.scopes, ttl: 1)
        [api, issued.token.to_s]
      end
    end
    short.each { |api, token| assert_equal 200, me(api, token).status, "#{api}, before its expiry" }
    sleep 1.2
    short.each { |api, token| assert_answer 401, refused.fetch(api), me(api, token), "#{api}, expired" }
    logins.each { |api, token| assert_equal 200, me(api, token).status, "#{api}, the login's own session" }
  end
end
