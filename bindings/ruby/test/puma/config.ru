# frozen_string_literal: true

# A small Rack app on the gem, served by a Puma cluster in test/puma_cluster_test.rb.
#   POST   /login?subject=alice   issues a session: {"token": ..., "id": ...}
#   GET    /whoami                (authenticated) {"subject": ..., "id": ...}
#   DELETE /session               (authenticated) logout: revokes the presented token
#   GET    /health                200
# Every response names the worker that answered in the x-worker-pid header.
require "json"
require "tessera"
require "tessera/rack"

STORE = Tessera::Store.per_process(ENV.fetch("TESSERA_STORE"), concurrency: :multi_process)

json = ->(status, data) { [status, { "content-type" => "application/json" }, [JSON.generate(data)]] }

# Names the worker process in every response, 401s included.
class WorkerPid
  def initialize(app)
    @app = app
  end

  def call(env)
    status, headers, body = @app.call(env)
    [status, headers.merge("x-worker-pid" => Process.pid.to_s), body]
  end
end

use WorkerPid

map "/health" do
  run ->(_env) { json.call(200, ok: true) }
end

map "/login" do
  run lambda { |env|
    subject = Rack::Request.new(env).params["subject"].to_s
    issued = STORE.call.issue_session(subject, label: "worker #{Process.pid}")
    json.call(200, token: issued.token, id: issued.id)
  }
end

map "/whoami" do
  use Tessera::Rack::Authenticate, store: STORE
  run ->(env) { json.call(200, subject: env["tessera.record"].subject, id: env["tessera.record"].id) }
end

map "/session" do
  use Tessera::Rack::Authenticate, store: STORE
  run lambda { |env|
    return json.call(405, error: "use DELETE") unless env["REQUEST_METHOD"] == "DELETE"

    json.call(200, revoked: STORE.call.revoke_by_id(env["tessera.record"].id))
  }
end
