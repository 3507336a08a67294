# frozen_string_literal: true

# The authentication endpoints of the five seed APIs (the public API documents of Flame
# Analytics, EyeNetra, BookingBug, Webitel and Overvis), served on tessera: one Rack application,
# one prefix per API.
require_relative "seed_apis/storage"
require_relative "seed_apis/accounts"
require_relative "seed_apis/http"
require_relative "seed_apis/flame"
require_relative "seed_apis/eyenetra"
require_relative "seed_apis/bookingbug"
require_relative "seed_apis/webitel"
require_relative "seed_apis/overvis"

module SeedApis
  # prefix => the API mounted there
  APIS = {
    "/flame" => Flame,
    "/eyenetra" => EyeNetra,
    "/bookingbug" => BookingBug,
    "/webitel" => Webitel,
    "/overvis" => Overvis
  }.freeze

  module_function

  # The whole application: the five APIs under their prefixes, /health, and an index at /.
  def app
    apis = APIS.transform_values(&:app)
    index = lambda do |env|
      next HTTP.json(404, { error: "404 Not Found" }) unless ["", "/"].include?(env["PATH_INFO"])

      HTTP.json(200, { apis: APIS.keys, health: "/health", tessera: Tessera.library_version })
    end
    health = ->(_env) { HTTP.json(200, { ok: true, pid: Process.pid }) }
    urlmap = Rack::URLMap.new(apis.merge("/health" => health, "/" => index))
    app = InternalError.new(urlmap)
    ENV["SEED_APIS_WORKER_HEADER"] == "1" ? WorkerHeader.new(app) : app
  end

  # A JSON 500 for an unexpected exception (logged to stderr with its class, never a token).
  class InternalError
    def initialize(app)
      @app = app
    end

    def call(env)
      @app.call(env)
    rescue StandardError => e
      warn "seed-apis: #{env["REQUEST_METHOD"]} #{env["SCRIPT_NAME"]}#{env["PATH_INFO"]}: #{e.class}: #{e.message}"
      HTTP.json(500, { error: "500 Internal Server Error" })
    end
  end
end
