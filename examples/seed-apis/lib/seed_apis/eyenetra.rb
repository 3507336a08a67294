# frozen_string_literal: true

require_relative "base"

module SeedApis
  # 001 EyeNetra, under /eyenetra.
  #
  #   POST   /api/v1/login    {"email","password"} -> {"info":"Success","token","user","organization"}
  #   DELETE /api/v1/logout   Authorization: Token token="..." -> {"info":"Success"}
  #   GET    /me              the verified identity
  #
  # Every login is its own tessera session (subject "eyenetra/user/<id>", tenant
  # "eyenetra/org/<id>") without expiry: "each key will be saved on the server until the user
  # logs off using that key" (max_lifetime: :never too, or the store's default maximum session
  # lifetime, 30 days, would still end it). Logout revokes only the token presented.
  class EyeNetra < Base
    SEED = "eyenetra"
    UNAUTHORIZED = { info: "Unauthorized" }.freeze
    USER_FIELDS = %w[id firstName lastName email superAdmin canAdmin canPrescribe appointments locale].freeze
    ORGANIZATION_FIELDS = %w[id logo prescribers plan created_at].freeze

    def routes(r)
      r.on("POST", "/api/v1/login", handler(:login))
      r.on("DELETE", "/api/v1/logout", protect(:logout))
      r.on("GET", "/me", protect(:me))
    end

    private

    def protect(name)
      Auth.protect(handler(name), seed: SEED, body: UNAUTHORIZED, header: "Authorization", schemes: %i[token],
                                  account: method(:user_of))
    end

    def bad_request(message)
      json(400, { info: "Failure", error: message })
    end

    # POST /api/v1/login
    def login(env)
      p = params(env)
      return bad_request("email and password are required") if p["email"].to_s.empty? || p["password"].to_s.empty?

      user = accounts.authenticate(SEED, p["email"], p["password"])
      return json(401, { info: "Failure", error: "Invalid email or password" }) unless user

      org = organization(user["organization"])
      issued = store.issue_session(Accounts.subject(SEED, user), tenant: "eyenetra/org/#{org["id"]}",
                                   ttl: :never, max_lifetime: :never,
                                   label: client_label(env))
      json(200, { info: "Success", token: issued.token, user: user_json(user), organization: org_json(org) })
    end

    # DELETE /api/v1/logout: only the key used is deleted.
    def logout(env)
      store.revoke(Auth.presented_token(env))
      json(200, { info: "Success" })
    end

    # GET /me
    def me(env)
      rec = record(env)
      user = user_of(rec)
      org = organization(rec.tenant.delete_prefix("eyenetra/org/"))
      json(200, { info: "Success", user: user_json(user), organization: org_json(org), key_id: rec.id,
                  logged_in_at: iso(rec.created_at), expires_at: iso(rec.expires_at) })
    end

    def organization(id)
      accounts.find(SEED, "organizations", id) or raise "accounts file: no EyeNetra organization #{id}"
    end

    # The user of a token, if it is still in the accounts file with its organization.
    def user_of(rec)
      return nil unless accounts.find(SEED, "organizations", rec.tenant.delete_prefix("eyenetra/org/"))

      accounts.users(SEED).find { |u| Accounts.subject(SEED, u) == rec.subject }
    end

    def user_json(user)
      u = user.merge("email" => user["login"])
      u["appointments"] ||= []
      USER_FIELDS.to_h { |f| [f, u[f]] }
    end

    def org_json(org)
      ORGANIZATION_FIELDS.to_h { |f| [f, org[f]] }
    end
  end
end
