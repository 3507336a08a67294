# frozen_string_literal: true

# The test harness: starts examples/seed-apis/serve (the real script: Puma cluster, store file)
# on a free port with its own store and a copy of the accounts file, talks HTTP to it, and
# replays the documents' curl commands through bash.
require "minitest/autorun"
require "fileutils"
require "json"
require "net/http"
require "open3"
require "socket"
require "time"
require "timeout"
require "tmpdir"

module SeedServer
  HERE = File.expand_path("..", __dir__)
  WORKERS = Integer(ENV.fetch("WORKERS", "2"))
  BOOT_SECONDS = 120

  class << self
    attr_reader :port, :dir, :store_path, :accounts_path, :log_path

    def start
      @dir ||= Dir.mktmpdir("seed-apis")
      @store_path = File.join(@dir, "tessera.redb")
      @accounts_path = File.join(@dir, "accounts.json")
      FileUtils.cp(File.join(HERE, "accounts.json"), @accounts_path) unless File.exist?(@accounts_path)
      @log_path = File.join(@dir, "serve.log")
      @port ||= TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
      env = { "PORT" => @port.to_s, "WORKERS" => WORKERS.to_s, "TESSERA_STORE" => @store_path,
              "SEED_ACCOUNTS" => @accounts_path, "SEED_APIS_WORKER_HEADER" => "1" }
      File.open(@log_path, "a") { |f| f.puts("=== serve (port #{@port}) ===") }
      @pid = Process.spawn(env, File.join(HERE, "serve"), out: [@log_path, "a"], err: [@log_path, "a"],
                                                          pgroup: true)
      begin
        wait_until_up
      rescue StandardError
        stop
        raise
      end
    end

    def stop
      return unless @pid

      begin
        Process.kill("TERM", @pid)
        Timeout.timeout(30) { Process.wait(@pid) }
      rescue Timeout::Error
        Process.kill("KILL", -@pid)
        Process.wait(@pid)
      rescue Errno::ESRCH, Errno::ECHILD
        nil
      end
      @pid = nil
    end

    def restart
      stop
      start
    end

    def cleanup
      stop
      FileUtils.rm_rf(@dir) if @dir && ENV["SEED_KEEP_TMP"] != "1"
    end

    def base
      "http://127.0.0.1:#{@port}"
    end

    def log
      File.exist?(@log_path.to_s) ? File.read(@log_path) : ""
    end

    private

    def wait_until_up
      deadline = Time.now + BOOT_SECONDS
      loop do
        raise "serve exited early:\n#{log}" if Process.wait(@pid, Process::WNOHANG)

        booted = log.split("=== serve").last.scan(/Worker \d+ \(PID: \d+\) booted/).size
        ready = WORKERS.zero? || booted >= WORKERS
        begin
          return if ready && Net::HTTP.get_response(URI("#{base}/health")).code == "200"
        rescue SystemCallError, EOFError, Net::ReadTimeout
          nil
        end
        raise "serve did not answer within #{BOOT_SECONDS} s:\n#{log}" if Time.now > deadline

        sleep 0.1
      end
    end
  end
end

SeedServer.start
Minitest.after_run { SeedServer.cleanup }
%w[INT TERM].each do |signal|
  trap(signal) do
    SeedServer.cleanup
    exit 128 + Signal.list.fetch(signal)
  end
end

# One HTTP answer: status code, headers, body text and its JSON.
Answer = Struct.new(:status, :headers, :body) do
  def json
    JSON.parse(body)
  end

  def worker
    headers["x-worker-pid"]&.to_i
  end
end

module SeedHelpers
  ANSI = /\e\[[0-9;]*m/

  # One request on a new connection (so that any worker may take it). +body+: a String as is,
  # anything else as JSON.
  def call(method, path, headers: {}, body: nil)
    uri = URI("#{SeedServer.base}#{path}")
    klass = { get: Net::HTTP::Get, post: Net::HTTP::Post, delete: Net::HTTP::Delete }.fetch(method)
    req = klass.new(uri)
    headers.each { |k, v| req[k] = v }
    unless body.nil?
      req.body = body.is_a?(String) ? body : JSON.generate(body)
      req["Content-Type"] ||= "application/json"
    end
    res = Net::HTTP.start(uri.host, uri.port, open_timeout: 5, read_timeout: 30) { |http| http.request(req) }
    Answer.new(res.code.to_i, res.to_hash.transform_values(&:first), res.body.to_s)
  end

  def get(path, headers = {})
    call(:get, path, headers: headers)
  end

  def post(path, body = nil, headers = {})
    call(:post, path, headers: headers, body: body)
  end

  def delete(path, headers = {})
    call(:delete, path, headers: headers)
  end

  # Runs a command of a document in bash, the host replaced by this server's and every
  # +replacements+ key by its value; `curl` is wrapped to add -sS and keep the answer's
  # headers. Returns the Answer of the last curl (body: what the command printed, without
  # jq's colours) and the command's stderr.
  def replay(command, replacements)
    script = replacements.reduce(command) { |text, (from, to)| text.gsub(from, to.to_s) }
    headers = File.join(SeedServer.dir, "replay-headers")
    File.delete(headers) if File.exist?(headers)
    wrapper = %(curl() { command curl -sS -D "#{headers}" "$@"; }\n)
    out, err, status = Open3.capture3("bash", "-c", wrapper + script)
    assert status.success?, "the command failed (#{status}):\n#{script}\n#{err}"
    lines = File.read(headers).split("\r\n")
    code = lines.grep(%r{\AHTTP/}).last.split[1].to_i
    head = lines.grep(/:/).to_h { |l| k, v = l.split(":", 2); [k.downcase, v.strip] }
    [Answer.new(code, head, out.gsub(ANSI, "")), err]
  end

  def assert_answer(status, body, answer, message = nil)
    assert_equal status, answer.status, "#{message}: status (body #{answer.body})"
    assert_equal body, answer.json, "#{message}: body" unless body.nil?
    assert_match %r{\Aapplication/json}, answer.headers["content-type"].to_s, "#{message}: content type" unless body.nil?
  end

  # Runs add-account on the server's accounts file and store; returns what it printed.
  def add_account(seed, login, password, *fields)
    out, status = Open3.capture2e({ "TESSERA_STORE" => SeedServer.store_path }, File.join(SeedServer::HERE, "add-account"),
                                  "--file", SeedServer.accounts_path, seed, login, *fields, stdin_data: "#{password}\n")
    assert status.success?, out
    out
  end

  # A token id is the 22 characters after the prefix.
  def token_id(token)
    token.split("_", 2).last[0, 22]
  end

  # --- logins, one per API ---------------------------------------------------------------

  FLAME_LOGIN = { "user" => "support@flameanalytics.com", "password" => "apipassword" }.freeze
  BB_APP = { "App-Id" => "tessera-demo", "App-Key" => "tessera-demo-key" }.freeze
  BB_ADMIN = { "email" => "admin@bookingbug.test", "password" => "adminpass1" }.freeze
  OVERVIS_KEY = "513cf747-eb5c-4d5f-931f-d22c9872c73c"
  OVERVIS_PASSWORD = "DCdcSLmkoZkU5zGI9gpInDbo"

  def flame_session(login = FLAME_LOGIN)
    a = post("/flame/v2/sessions", login)
    assert_equal 200, a.status, a.body
    a.json["auth_token"]
  end

  def flame_key(session, locations:, permissions:, label: "test key")
    a = post("/flame/v2/api_keys", { "label" => label, "locations" => locations, "permissions" => permissions },
             "Authorization" => "Token token=#{session}")
    assert_equal 201, a.status, a.body
    a.json["api_key"]
  end

  def eyenetra_login
    a = post("/eyenetra/api/v1/login", { "email" => "user@eyenetra.com", "password" => "password" })
    assert_equal 200, a.status, a.body
    a.json["token"]
  end

  def bookingbug_login(body = BB_ADMIN)
    a = post("/bookingbug/api/v1/login", body, BB_APP)
    assert_equal 200, a.status, a.body
    a.json["auth_token"]
  end

  def webitel_login(username = "100@mydomain.com", password = "secret")
    a = post("/webitel/login", { "username" => username, "password" => password })
    assert_equal 200, a.status, a.body
    a.json
  end

  def overvis_login
    a = post("/overvis/api/v1/authenticate/", { "apiKey" => OVERVIS_KEY, "password" => OVERVIS_PASSWORD })
    assert_equal 200, a.status, a.body
    a.json["token"]
  end

  # The /me request of each API with its own header form.
  def me(api, token, key: nil)
    case api
    when :flame then get("/flame/me", "Authorization" => "Token token=#{token}")
    when :flame_key then get("/flame/me", "Authorization" => "ApiKey #{token}")
    when :eyenetra then get("/eyenetra/me", "Authorization" => %(Token token="#{token}"))
    when :bookingbug then get("/bookingbug/me", BB_APP.merge("Auth-Token" => token))
    when :webitel then get("/webitel/me", "X-Access-Token" => token, "X-Key" => key || token_id(token))
    when :overvis then get("/overvis/me", "Authorization" => "token #{token}")
    end
  end
end

class SeedTest < Minitest::Test
  include SeedHelpers
end
