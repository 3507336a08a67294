# frozen_string_literal: true

require_relative "base"

module SeedApis
  # 000 Flame Analytics, under /flame.
  #
  #   POST   /v2/sessions        {"user","password"} -> {"auth_token","id","email","full_name","photo_url"}
  #   DELETE /v2/sessions        Authorization: Token token=... (or an access_token parameter)
  #   POST   /v2/api_keys        an organization admin's session: {"label","locations","permissions"}
  #                              -> 201 with the key, shown once
  #   GET    /v2/api_keys        the organization's keys (never their secrets)
  #   DELETE /v2/api_keys/:id    revokes one
  #   GET    /me (and /v2/me)    the verified identity (Authorization: ApiKey ... or Token token=...)
  #   GET    /v2/locations/:location_id/reports
  #                              a token of the location's organization (401 otherwise) with the
  #                              scopes location:<id> and permission:reports (403 without)
  #
  # Sessions are tessera sessions of subject "flame/user/<id>" in tenant "flame/org/<id>",
  # carrying the user's locations and permissions as scopes (plus organization:admin for admins);
  # API keys are tessera API keys of the organization with the chosen scopes.
  class Flame < Base
    SEED = "flame"
    SESSION_TTL = 30 * 24 * 3600 # the document gives none: 30 days
    UNAUTHORIZED = { error: "401 Unauthorized" }.freeze
    FORBIDDEN = { error: "403 Forbidden" }.freeze
    ADMIN_SCOPE = "organization:admin"

    # Authorization: ApiKey ... must carry an API key, Token token=... a session (as the
    # document shows them).
    SCHEME_MATCHES_KIND = lambda do |env, record|
      env["tessera.credential"].scheme == (record.kind == :api_key ? :api_key : :token)
    end
    SESSION_ONLY = ->(env, record) { SCHEME_MATCHES_KIND.call(env, record) && record.kind == :session }

    def routes(r)
      r.on("POST", "/v2/sessions", handler(:create_session))
      r.on("DELETE", "/v2/sessions", AccessTokenParam.new(protect(:destroy_session, check: SESSION_ONLY)))
      r.on("POST", "/v2/api_keys", protect(:create_api_key, check: SESSION_ONLY))
      r.on("GET", "/v2/api_keys", protect(:list_api_keys, check: SESSION_ONLY))
      r.on("DELETE", "/v2/api_keys/:id", protect(:revoke_api_key, check: SESSION_ONLY))
      r.on("GET", "/me", protect(:me))
      r.on("GET", "/v2/me", protect(:me))
      # Who the token is (its kind matching its scheme, its organization's location) comes
      # before what it may do (its scopes, in the handler): a token of the wrong kind is a 401
      # whatever its scopes.
      r.on("GET", "/v2/locations/:location_id/reports",
           protect(:location_report, check: lambda { |env, rec|
             SCHEME_MATCHES_KIND.call(env, rec) && rec.tenant == tenant_of_location(HTTP.path_params(env)["location_id"])
           }))
    end

    private

    def protect(name, check: SCHEME_MATCHES_KIND)
      Auth.protect(handler(name), seed: SEED, body: UNAUTHORIZED, header: "Authorization",
                                  schemes: %i[api_key token], account: method(:account_of), check: check)
    end

    # POST /v2/sessions
    def create_session(env)
      p = params(env)
      return bad_request("user and password are required") if p["user"].to_s.empty? || p["password"].to_s.empty?

      user = accounts.authenticate(SEED, p["user"], p["password"])
      return json(401, { error: "Invalid user or password" }) unless user

      org = organization(user["organization"])
      issued = store.issue_session(subject(user), tenant: tenant(org), scopes: user_scopes(user, org),
                                                  ttl: SESSION_TTL, label: client_label(env))
      json(200, { auth_token: issued.token, id: user["id"], email: user["login"], full_name: user["full_name"],
                  photo_url: user["photo_url"] || "/defaults/user_small.png" })
    end

    # DELETE /v2/sessions
    def destroy_session(env)
      store.revoke(Auth.presented_token(env))
      json(200, { message: "Session deleted" })
    end

    # POST /v2/api_keys (an organization admin's session)
    def create_api_key(env)
      session = record(env)
      return json(403, FORBIDDEN) unless session.scopes.include?(ADMIN_SCOPE)

      org = organization_of(session)
      p = params(env)
      locations = Array(p["locations"])
      permissions = Array(p["permissions"])
      return json(422, { error: "choose at least one location and one permission" }) if locations.empty? || permissions.empty?

      unknown = locations.map(&:to_s) - org["locations"].map(&:to_s)
      return json(422, { error: "unknown location #{unknown.first}" }) unless unknown.empty?

      unknown = permissions.map(&:to_s) - org["permissions"]
      return json(422, { error: "unknown permission #{unknown.first}" }) unless unknown.empty?

      label = label_text(p["label"], 200) || "API key"
      scopes = locations.map { |l| "location:#{l}" }.uniq + permissions.map { |x| "permission:#{x}" }.uniq
      issued = store.issue_api_key(session.tenant, subject: session.subject, scopes: scopes, label: label)
      json(201, key_json(issued.record).merge(api_key: issued.token,
                                              notice: "Keep this key now: it is shown only once."))
    end

    # GET /v2/api_keys
    def list_api_keys(env)
      session = record(env)
      return json(403, FORBIDDEN) unless session.scopes.include?(ADMIN_SCOPE)

      json(200, { api_keys: store.list_api_keys(session.tenant).map { |k| key_json(k) } })
    end

    # DELETE /v2/api_keys/:id
    def revoke_api_key(env)
      session = record(env)
      return json(403, FORBIDDEN) unless session.scopes.include?(ADMIN_SCOPE)

      key = begin
        store.get(HTTP.path_params(env)["id"])
      rescue Tessera::Rejected, Tessera::UsageError # not an id at all
        nil
      end
      return not_found unless key && key.kind == :api_key && key.tenant == session.tenant

      store.revoke_by_id(key.id)
      json(200, { id: key.id, revoked: true })
    end

    # GET /me
    def me(env)
      rec = record(env)
      org = organization_of(rec)
      user = user_of(rec)
      org_json = { id: org["id"], name: org["name"] }
      if rec.kind == :api_key
        json(200, { type: "api_key", id: rec.id, label: rec.label, organization: org_json,
                    locations: locations_of(rec), permissions: permissions_of(rec),
                    created_by: user && user["login"], created_at: iso(rec.created_at) })
      else
        json(200, { type: "session", id: user["id"], email: user["login"], full_name: user["full_name"],
                    organization: org_json, admin: rec.scopes.include?(ADMIN_SCOPE),
                    locations: locations_of(rec), permissions: permissions_of(rec),
                    session_id: rec.id, expires_at: iso(rec.expires_at) })
      end
    end

    # GET /v2/locations/:location_id/reports (a token of the location's organization)
    def location_report(env)
      id = HTTP.path_params(env)["location_id"]
      rec = record(env)
      return json(403, FORBIDDEN) unless (["location:#{id}", "permission:reports"] - rec.scopes).empty?

      json(200, { location_id: id.to_i, report: "visits", data: [], authorized_by: rec.kind.to_s })
    end

    def subject(user)
      Accounts.subject(SEED, user)
    end

    def tenant(org)
      "flame/org/#{org["id"]}"
    end

    def organization(id)
      accounts.find(SEED, "organizations", id) or raise "accounts file: no Flame organization #{id}"
    end

    def organization_of(rec)
      organization(rec.tenant.delete_prefix("flame/org/"))
    end

    def user_of(rec)
      accounts.users(SEED).find { |u| subject(u) == rec.subject }
    end

    # What a token stands for in the accounts file: a session its user, an API key its
    # organization (whoever created it); nil once that left the file.
    def account_of(rec)
      org = accounts.find(SEED, "organizations", rec.tenant.delete_prefix("flame/org/"))
      rec.kind == :api_key || org.nil? ? org : user_of(rec)
    end

    # The tenant of the organization that has this location (a tenant no token has if none).
    def tenant_of_location(location_id)
      org = accounts.list(SEED, "organizations").find { |o| o["locations"].map(&:to_s).include?(location_id.to_s) }
      org ? tenant(org) : "flame/no-such-location"
    end

    # A user's scopes: every location and permission of the organization for an admin, the
    # user's own (within the organization's) otherwise.
    def user_scopes(user, org)
      locations, permissions =
        if user["admin"]
          [org["locations"], org["permissions"]]
        else
          [Array(user["locations"]) & org["locations"], Array(user["permissions"]) & org["permissions"]]
        end
      scopes = locations.map { |l| "location:#{l}" } + permissions.map { |x| "permission:#{x}" }
      user["admin"] ? [ADMIN_SCOPE] + scopes : scopes
    end

    def locations_of(rec)
      rec.scopes.filter_map { |s| s.delete_prefix("location:").to_i if s.start_with?("location:") }
    end

    def permissions_of(rec)
      rec.scopes.filter_map { |s| s.delete_prefix("permission:") if s.start_with?("permission:") }
    end

    def key_json(rec)
      creator = user_of(rec)
      { id: rec.id, label: rec.label, organization_id: organization_of(rec)["id"],
        locations: locations_of(rec), permissions: permissions_of(rec),
        created_by: creator && creator["login"], created_at: iso(rec.created_at) }
    end

    # DELETE /v2/sessions also takes the document's access_token parameter (query or body) when
    # there is no Authorization header: it becomes "Authorization: Token token=...".
    class AccessTokenParam
      def initialize(app)
        @app = app
      end

      def call(env)
        if env["HTTP_AUTHORIZATION"].to_s.empty?
          token = begin
            HTTP.params(env)["access_token"]
          rescue HTTP::BadRequest
            nil
          end
          env["HTTP_AUTHORIZATION"] = "Token token=#{token}" if token.is_a?(String) && !token.empty?
        end
        @app.call(env)
      end
    end
  end
end
