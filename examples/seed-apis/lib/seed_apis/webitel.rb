# frozen_string_literal: true

require_relative "base"

module SeedApis
  # 003 Webitel, under /webitel.
  #
  #   POST /login    {"username","password"} -> {"key","username","expires","token","role"}
  #                  400 User name is required, 404 User not found, 401 Invalid credentials
  #   POST /logout   X-Access-Token + X-Key -> {"status":"OK","info":"Successful logout."}; 401 Bad caller
  #   GET  /me       X-Access-Token + X-Key: the verified identity
  #
  # "key" is the tessera token's public id, "token" its full text, "expires" its expiry in Unix
  # milliseconds, "role" 0 (root), 1 (admin) or 2 (user) from the accounts file (kept in the
  # token as the scope role:<n>). Sessions: subject "webitel/user/<username>", tenant
  # "webitel/domain/<domain>" (the part after @, "root" for a user name without one).
  class Webitel < Base
    SEED = "webitel"
    SESSION_TTL = 7 * 24 * 3600 # the document gives none: 7 days
    BAD_CALLER = { status: "error", info: "Bad caller" }.freeze

    def routes(r)
      r.on("POST", "/login", handler(:login))
      r.on("POST", "/logout", protect(:logout))
      r.on("GET", "/me", protect(:me))
    end

    private

    # X-Access-Token only, and X-Key is required (the middleware checks that it equals the
    # token's id when present).
    def protect(name)
      Auth.protect(handler(name), seed: SEED, body: BAD_CALLER, header: "X-Access-Token",
                                  account: method(:user_of),
                                  check: ->(env, _rec) { !env["HTTP_X_KEY"].to_s.empty? })
    end

    def error(status, info)
      json(status, { status: "error", info: info })
    end

    def bad_request(message)
      error(400, message)
    end

    def not_found
      error(404, "Not found")
    end

    # POST /login
    def login(env)
      p = params(env)
      return error(400, "User name is required") if p["username"].to_s.empty?

      user = accounts.user(SEED, p["username"])
      return error(404, "User not found") unless user
      return error(401, "Invalid credentials") unless Password.match?(p["password"].to_s, user["password"])

      domain = user["login"].split("@", 2)[1] || "root"
      issued = store.issue_session(Accounts.subject(SEED, user), tenant: "#{SEED}/domain/#{domain}",
                                   scopes: ["role:#{user["role"]}"], ttl: SESSION_TTL,
                                   label: client_label(env))
      json(200, { key: issued.id, username: user["login"], expires: epoch_ms(issued.record.expires_at),
                  token: issued.token, role: user["role"] })
    end

    # POST /logout
    def logout(env)
      store.revoke(Auth.presented_token(env))
      json(200, { status: "OK", info: "Successful logout." })
    end

    # The user of a session, if it is still in the accounts file.
    def user_of(rec)
      accounts.users(SEED).find { |u| Accounts.subject(SEED, u) == rec.subject }
    end

    # GET /me
    def me(env)
      rec = record(env)
      role = rec.scopes.find { |s| s.start_with?("role:") }&.delete_prefix("role:")&.to_i
      json(200, { key: rec.id, username: rec.subject.delete_prefix("#{SEED}/user/"),
                  domain: rec.tenant.delete_prefix("#{SEED}/domain/"), role: role,
                  expires: epoch_ms(rec.expires_at) })
    end
  end
end
