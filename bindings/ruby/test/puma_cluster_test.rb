# frozen_string_literal: true

require_relative "test_helper"
require "net/http"
require "socket"
require "timeout"

# Several processes on one store, for real: a Puma cluster of 4 workers serving test/puma/
# config.ru, driven by concurrent HTTP requests on 127.0.0.1 (bounded in count and time).
class PumaClusterTest < Minitest::Test
  include TesseraTest

  WORKERS = 4
  CLIENT_THREADS = 8
  MAX_REQUESTS = 4000 # per phase
  PHASE_SECONDS = 90

  def setup
    @dir = Dir.mktmpdir("tessera-puma")
    @store_path = File.join(@dir, "shared.redb")
    # Created before the workers start, as a deployment would: see the multi-process creation
    # race in the Python suite (test_several_processes_may_create_a_new_store_at_once).
    Tessera::Store.open(@store_path, concurrency: :multi_process) { nil }
    @port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
    @log = File.join(@dir, "puma.log")
    puma = TesseraTest.which("puma")
    flunk "puma is not installed (bindings/ruby/run-tests installs Debian's puma)" unless puma
    env = { "TESSERA_STORE" => @store_path, "RUBYLIB" => File.expand_path("../lib", __dir__) }
    env["TESSERA_LIB"] = ENV["TESSERA_LIB"] if ENV["TESSERA_LIB"]
    @puma = Process.spawn(env, puma, "-w", WORKERS.to_s, "-t", "4:4", "-b", "tcp://127.0.0.1:#{@port}",
                          "-e", "test", File.expand_path("puma/config.ru", __dir__),
                          out: @log, err: @log, pgroup: true)
    @worker_pids = wait_for_workers
  end

  def teardown
    stop_puma
    FileUtils.rm_rf(@dir)
  end

  def wait_for_workers
    deadline = Time.now + 60
    loop do
      booted = File.read(@log).scan(/Worker \d+ \(PID: (\d+)\) booted/).flatten.map(&:to_i).uniq
      return booted if booted.size == WORKERS && request(:get, "/health").code == "200"

      flunk "puma did not boot #{WORKERS} workers within 60 s:\n#{File.read(@log)}" if Time.now > deadline
      sleep 0.1
    rescue Errno::ECONNREFUSED, Errno::ECONNRESET, EOFError
      sleep 0.1
      retry
    end
  end

  def stop_puma
    return unless @puma

    Process.kill("TERM", @puma)
    Timeout.timeout(30) { Process.wait(@puma) }
  rescue Timeout::Error
    Process.kill("KILL", -@puma)
    Process.wait(@puma)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  ensure
    @puma = nil
  end

  # One request on a new connection (so that any worker may accept it).
  def request(method, path, token: nil)
    Net::HTTP.start("127.0.0.1", @port, open_timeout: 5, read_timeout: 30) do |http|
      req = { get: Net::HTTP::Get, post: Net::HTTP::Post, delete: Net::HTTP::Delete }.fetch(method).new(path)
      req["Authorization"] = "Token token=\"#{token}\"" if token
      http.request(req)
    end
  end

  # Runs +job+ from CLIENT_THREADS threads until +done+ says so (or the bounds are reached);
  # yields each [response, worker pid] to +record+ under a lock. Returns the request count.
  def hammer(job, done:, record:)
    lock = Mutex.new
    sent = 0
    deadline = Time.now + PHASE_SECONDS
    threads = Array.new(CLIENT_THREADS) do
      Thread.new do
        loop do
          break if lock.synchronize { done.call || sent >= MAX_REQUESTS || Time.now > deadline }

          lock.synchronize { sent += 1 }
          response = job.call
          lock.synchronize { record.call(response, response["x-worker-pid"].to_i) }
        end
      end
    end
    threads.each(&:join)
    sent
  end

  def test_a_token_issued_through_one_worker_verifies_on_all_and_a_revoke_reaches_every_worker
    # 1. A token issued through each of the 4 workers.
    issued = {} # worker pid => [token, id]
    logins = hammer(-> { request(:post, "/login?subject=alice") },
                    done: -> { issued.size == WORKERS },
                    record: lambda { |res, pid|
                      assert_equal "200", res.code
                      issued[pid] ||= JSON.parse(res.body).values_at("token", "id")
                    })
    assert_equal @worker_pids.sort, issued.keys.sort, "logins reached every worker (#{logins} requests)"

    # 2. Each of those tokens verifies on each of the 4 workers: 16 (issuer, verifier) pairs.
    tokens = issued.to_a
    seen = Hash.new { |h, k| h[k] = [] } # [issuer, verifier] => status codes
    turn = 0
    verifies = hammer(lambda {
                        issuer, (token, _) = tokens[(turn += 1) % tokens.size]
                        res = request(:get, "/whoami", token: token)
                        res.instance_variable_set(:@issuer, issuer)
                        res
                      },
                      done: -> { seen.size == WORKERS * WORKERS },
                      record: ->(res, pid) { seen[[res.instance_variable_get(:@issuer), pid]] << res.code })
    assert_equal WORKERS * WORKERS, seen.size, "every (issuer, verifier) pair was exercised"
    codes = seen.values.flatten
    assert_equal ["200"], codes.uniq, "every verify of a live token succeeded"

    # 3. Logout through one worker; then every worker answers 401 for that token, at once.
    victim_issuer, (victim, victim_id) = tokens.first
    logout = request(:delete, "/session", token: victim)
    assert_equal "200", logout.code
    assert_equal 1, JSON.parse(logout.body)["revoked"]
    revoker = logout["x-worker-pid"].to_i
    after = Hash.new { |h, k| h[k] = [] }
    revoked_requests = hammer(-> { request(:get, "/whoami", token: victim) },
                              done: -> { after.size == WORKERS && after.values.all? { |c| c.size >= 2 } },
                              record: lambda { |res, pid|
                                after[pid] << res.code
                                assert_equal({ "error" => "401 Unauthorized" }, JSON.parse(res.body)) if res.code == "401"
                              })
    assert_equal @worker_pids.sort, after.keys.sort, "every worker was asked after the revoke"
    assert_equal ["401"], after.values.flatten.uniq, "no worker accepted the revoked token"

    # 4. The other tokens still work everywhere (spot check through any worker).
    tokens.drop(1).each { |_, (token, _)| assert_equal "200", request(:get, "/whoami", token: token).code }
    Tessera::Store.open(@store_path, concurrency: :multi_process) do |store|
      assert store.get(victim_id).revoked?
    end

    puts "\n[multi-process] Puma cluster of #{WORKERS} workers (pids #{@worker_pids.sort.join(", ")}): " \
         "tokens issued through each worker (#{logins} logins) verified on every worker " \
         "(#{WORKERS * WORKERS}/#{WORKERS * WORKERS} issuer-verifier pairs, #{verifies} requests, " \
         "#{codes.count("200")} x 200, 0 failures); after a logout of the token of pid #{victim_issuer} " \
         "through pid #{revoker}, #{after.size}/#{WORKERS} workers answered 401 " \
         "(#{revoked_requests} requests, #{after.values.flatten.count("200")} x 200)"
  end
end
