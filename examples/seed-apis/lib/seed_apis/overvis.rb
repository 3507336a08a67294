# frozen_string_literal: true

require_relative "base"

module SeedApis
  # 004 Overvis, under /overvis.
  #
  #   POST /api/v1/authenticate/   {"apiKey","password"} -> {"token","expiresOn"}
  #                                401 {"error":"InvalidKey"} (no such key) or {"error":"NotAuthorized"}
  #                                (wrong password)
  #   POST /api/v1/logout/         Authorization: token <token> -> {} (the token is revoked at once)
  #   GET  /me                     Authorization: token <token>: the verified identity
  #
  # The Overvis API key (a UUID) and its password are an account of the accounts file; a session
  # is a tessera session of subject "overvis/key/<uuid>" in tenant "overvis/org/<id>".
  # A missing, invalid, expired or revoked session token: 401 {"error":"NotAuthorized"}.
  class Overvis < Base
    SEED = "overvis"
    SESSION_TTL = 24 * 3600 # the document gives none: one day
    NOT_AUTHORIZED = { error: "NotAuthorized" }.freeze

    def routes(r)
      r.on("POST", "/api/v1/authenticate/", handler(:authenticate))
      r.on("POST", "/api/v1/logout/", protect(:logout))
      r.on("GET", "/me", protect(:me))
    end

    private

    # The document's `Authorization: token <token>` only (the parser reads `Token token=<token>`
    # as the same scheme, so that form passes too; Bearer and ApiKey do not).
    def protect(name)
      Auth.protect(handler(name), seed: SEED, body: NOT_AUTHORIZED, header: "Authorization", schemes: %i[token],
                                  account: method(:key_of))
    end

    def bad_request(_message)
      json(400, { error: "BadRequest" })
    end

    def not_found
      json(404, { error: "NotFound" })
    end

    def not_allowed
      json(405, { error: "MethodNotAllowed" })
    end

    # POST /api/v1/authenticate/
    def authenticate(env)
      p = params(env)
      key = accounts.user(SEED, p["apiKey"])
      unless key
        Password.match?(p["password"].to_s, nil) # the same work as a wrong password
        return json(401, { error: "InvalidKey" })
      end
      return json(401, { error: "NotAuthorized" }) unless Password.match?(p["password"].to_s, key["password"])

      issued = store.issue_session(Accounts.subject(SEED, key), tenant: "#{SEED}/org/#{key["organization"]}",
                                   ttl: SESSION_TTL, label: client_label(env))
      json(200, { token: issued.token, expiresOn: iso(issued.record.expires_at) })
    end

    # POST /api/v1/logout/
    def logout(env)
      store.revoke(Auth.presented_token(env))
      json(200, {})
    end

    # GET /me
    def me(env)
      rec = record(env)
      key = key_of(rec)
      json(200, { apiKey: key["login"], name: key["name"], organizationId: key["organization"],
                  expiresOn: iso(rec.expires_at) })
    end

    # The API key (account) of a session, if it is still in the accounts file.
    def key_of(rec)
      accounts.users(SEED).find { |k| Accounts.subject(SEED, k) == rec.subject }
    end
  end
end
