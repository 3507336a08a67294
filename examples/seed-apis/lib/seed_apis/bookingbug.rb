# frozen_string_literal: true

require "digest"
require_relative "base"

module SeedApis
  # 002 BookingBug, under /bookingbug. Every request needs App-Id and App-Key headers.
  #
  #   POST   /api/v1/login                        {"email","password"[,"id": company]} -> the login document
  #   POST   /api/v1/login/admin/:company_id      the credentials, or the Auth-Token of an admin of
  #                                               that company or of a parent company: then the new
  #                                               token is a tessera child token of that one
  #   DELETE /api/v1/login                        Auth-Token: logout (its child tokens die with it)
  #   GET    /me                                  the verified identity
  #   GET    /api/v1/admin/:company_id/company    an admin endpoint: a token of that company or of a
  #                                               parent company ("cached and reused for child companies")
  #
  # Sessions: subject "bookingbug/admin/<id>", tenant "bookingbug/company/<id>". Every failure of
  # authentication is the document's 401 {"error": "401 Unauthorized"}.
  class BookingBug < Base
    SEED = "bookingbug"
    SESSION_TTL = 24 * 3600 # the document gives none: one day
    UNAUTHORIZED = { error: "401 Unauthorized" }.freeze

    def routes(r)
      r.on("POST", "/api/v1/login", app_only(handler(:login)))
      r.on("POST", "/api/v1/login/admin/:company_id", app_only(handler(:admin_login)))
      r.on("DELETE", "/api/v1/login", protect(:logout))
      r.on("GET", "/me", protect(:me))
      # A company that does not exist is the handler's 404, once the token is known to be good;
      # one the token's admin does not manage is a 401.
      r.on("GET", "/api/v1/admin/:company_id/company",
           protect(:show_company, check: lambda { |env, rec|
             id = HTTP.path_params(env)["company_id"]
             find_company(id).nil? || reaches?(company_of(rec), id)
           }))
    end

    private

    def unauthorized
      json(401, UNAUTHORIZED)
    end

    def app_only(app)
      AppCredentials.new(app, UNAUTHORIZED)
    end

    def protect(name, check: nil)
      account = ->(rec) { find_company(company_of(rec)) && user_of(rec) }
      app_only(Auth.protect(handler(name), seed: SEED, body: UNAUTHORIZED, header: "Auth-Token", account: account,
                                           check: check))
    end

    # POST /api/v1/login: at the admin's own company, or at the company "id" names (the admin's
    # or one below it: parent/child setups).
    def login(env)
      p = params(env)
      user = accounts.authenticate(SEED, p["email"], p["password"])
      return unauthorized unless user

      company_id = p["id"].nil? || p["id"].to_s.empty? ? user["company"] : p["id"]
      credentials_login(env, user, company_id)
    end

    # POST /api/v1/login/admin/:company_id
    def admin_login(env)
      company_id = HTTP.path_params(env)["company_id"]
      p = params(env)
      if p.key?("email") || p.key?("password")
        user = accounts.authenticate(SEED, p["email"], p["password"])
        return unauthorized unless user

        return credentials_login(env, user, company_id)
      end
      token_login(env, company_id)
    end

    def credentials_login(env, user, company_id)
      company = find_company(company_id)
      return not_found unless company
      return unauthorized unless reaches?(user["company"], company["id"])

      issued = store.issue_session(subject(user), tenant: tenant(company), ttl: SESSION_TTL, label: client_label(env))
      json(200, login_json(env, user, company, issued.token))
    end

    # An admin already logged in at this company or a parent company asks for a token for this
    # company: a child of the presented token (it never outlives it, and dies with it).
    def token_login(env, company_id)
      raw = env["HTTP_AUTH_TOKEN"]
      return unauthorized if raw.nil?

      token = begin
        Tessera.parse_header("Auth-Token", raw).token
      rescue Tessera::CredentialError
        return unauthorized
      end
      outcome = store.verify(token)
      return unauthorized unless outcome.valid? && outcome.record.tenant.start_with?("#{SEED}/")

      parent = outcome.record
      company = find_company(company_id)
      return not_found unless company
      return unauthorized unless reaches?(company_of(parent), company["id"])

      user = user_of(parent)
      return unauthorized unless user

      child = store.issue_child(token, kind: :session, subject: parent.subject, tenant: tenant(company),
                                       label: client_label(env))
      json(200, login_json(env, user, company, child.token))
    end

    # DELETE /api/v1/login
    def logout(env)
      store.revoke(Auth.presented_token(env))
      json(200, { message: "Logged out" })
    end

    # GET /me
    def me(env)
      rec = record(env)
      user = user_of(rec)
      company = find_company(company_of(rec))
      json(200, { email: user["login"], name: user["name"], role: user["role"], company_id: company["id"],
                  company_name: company["name"], auth_token_id: rec.id, parent_auth_token_id: rec.parent,
                  expires_at: iso(rec.expires_at) })
    end

    # GET /api/v1/admin/:company_id/company
    def show_company(env)
      company = find_company(HTTP.path_params(env)["company_id"])
      return not_found unless company

      base = "#{HTTP.base_url(env)}/api/v1"
      children = accounts.list(SEED, "companies").select { |c| c["parent"] == company["id"] }.map { |c| c["id"] }
      json(200, { id: company["id"], name: company["name"], parent_id: company["parent"], child_ids: children,
                  _links: { self: { href: "#{base}/admin/#{company["id"]}/company" },
                            login: { href: "#{base}/login/admin/#{company["id"]}" } } })
    end

    def find_company(id)
      accounts.find(SEED, "companies", id)
    end

    # Whether an admin of company +from+ may act for company +to+: the same company, or one
    # below it.
    def reaches?(from, to)
      company = find_company(to)
      seen = 0
      while company && seen < 16
        return true if company["id"].to_s == from.to_s

        company = company["parent"] && find_company(company["parent"])
        seen += 1
      end
      false
    end

    def subject(user)
      Accounts.subject(SEED, user)
    end

    def tenant(company)
      "#{SEED}/company/#{company["id"]}"
    end

    def company_of(rec)
      rec.tenant.delete_prefix("#{SEED}/company/")
    end

    def user_of(rec)
      accounts.users(SEED).find { |u| subject(u) == rec.subject }
    end

    # The login document of the BookingBug documentation, for +user+ at +company+.
    def login_json(env, user, company, token)
      base = "#{HTTP.base_url(env)}/api/v1"
      cid = company["id"]
      admin = "#{base}/admin/#{cid}/administrators/#{user["id"]}"
      {
        email: user["login"], auth_token: token, company_id: cid, path: base,
        _embedded: {
          members: [],
          administrators: [{
            name: user["name"], email: user["login"], role: user["role"], company_id: cid,
            company_name: company["name"],
            _links: { self: { href: admin }, edit: { href: "#{admin}/edit" },
                      company: { href: "#{base}/admin/#{cid}/company" },
                      login: { href: "#{base}/login/admin/#{cid}" }, base_login: { href: "#{base}/login/admin" } }
          }]
        },
        _links: { self: { href: "#{base}/login/#{cid}" }, administrator: { href: admin, templated: true } }
      }
    end

    # Every BookingBug request needs a known App-Id and its App-Key (hashed in the accounts file
    # like a password; a match is remembered per process, keyed by a SHA-256 of the key, until
    # the accounts file changes).
    class AppCredentials
      def initialize(app, body)
        @app = app
        @body = body
        @known = {}
        @lock = Mutex.new
      end

      def call(env)
        id = env["HTTP_APP_ID"].to_s
        key = env["HTTP_APP_KEY"].to_s
        return Auth.unauthorized(env, @body, :app_credentials, SEED) unless known?(id, key)

        @app.call(env)
      end

      private

      def known?(id, key)
        return false if id.empty? || key.empty?

        accounts = Accounts.current
        memo = [id, Digest::SHA256.digest(key)]
        @lock.synchronize do
          @known = {} unless @accounts.equal?(accounts) # the file changed: check again
          @accounts = accounts
          return true if @known[memo]
        end
        app = accounts.find(SEED, "apps", id)
        ok = Password.match?(key, app && app["key"])
        @lock.synchronize { @known[memo] = true if ok && @known.size < 1000 }
        ok
      end
    end
  end
end
