# frozen_string_literal: true

require_relative "test_helper"
require "minitest/mock"
require "pathname"

# Sessions, API keys, expiry and cleanup, opening: the behaviours of the Rust tests, through
# the gem.
class StoreBehaviourTest < StoreTest
  def test_a_new_session_verifies_and_returns_its_record
    login = @store.issue_session("alice", tenant: "acme", label: "Firefox", metadata: "\x00dev\xff".b,
                                          scopes: %w[read write], ttl: HOUR)
    assert login.token.start_with?("tss_")
    assert_equal 76, login.token.size
    outcome = @store.verify(login.token)
    assert outcome.valid?
    r = outcome.record
    assert_equal [login.id, :session, "acme", "alice"], [r.id, r.kind, r.tenant, r.subject]
    assert_equal %w[read write], r.scopes
    assert_equal "\x00dev\xff".b, r.metadata
    assert_equal T0, r.created_at
    assert_equal T0 + HOUR, r.expires_at
    assert_equal 30 * DAY, r.max_lifetime
    refute r.revoked?
    assert_equal :none, r.revoke_reason
    assert r.frozen?
  end

  def test_logging_out_one_device_leaves_the_others_valid
    phone = @store.issue_session("bob", label: "phone")
    laptop = @store.issue_session("bob", label: "laptop")
    assert_equal 1, @store.revoke(phone.token)
    assert_equal 0, @store.revoke(phone.token)
    assert_equal :revoked, @store.verify(phone.token).rejection
    assert @store.verify(laptop.token).valid?
    assert_equal ["laptop"], @store.list_subject("bob").map(&:label)
    assert_equal :logout, @store.get(phone.id).revoke_reason
  end

  def test_logout_with_a_wrong_secret_revokes_nothing
    t = @store.issue_session("dan")
    other = @store.issue_session("dan")
    forged = TesseraTest.with_secret_of(t.token, other.token)
    assert_equal :bad_secret, @store.verify(forged).rejection
    assert_raises(Tessera::BadSecret) { @store.revoke(forged) }
    assert @store.verify(t.token).valid?
  end

  def test_log_out_my_other_devices_keeps_the_current_one
    current = @store.issue_session("erin", tenant: "acme")
    others = %w[acme globex].map { |tenant| @store.issue_session("erin", tenant: tenant) }
    assert_equal 2, @store.revoke_subject("erin", except_id: current.id)
    assert @store.verify(current.token).valid?
    others.each { |o| assert_equal :revoked, @store.verify(o.token).rejection }
  end

  def test_a_session_expires_at_its_ttl_to_the_millisecond
    t = @store.issue_session("erin", ttl: HOUR)
    @clock.advance(HOUR - 0.001)
    assert @store.verify(t.token).valid?
    @clock.advance(0.001)
    assert_equal :expired, @store.verify(t.token).rejection
  end

  def test_an_idle_token_dies_after_its_idle_timeout_while_its_ttl_is_far
    t = @store.issue_session("frank", ttl: DAY, idle_timeout: 30 * 60)
    9.times do
      @clock.advance(20 * 60)
      assert @store.verify(t.token).valid?
    end
    @clock.advance(30 * 60)
    assert_equal :idle, @store.verify(t.token).rejection
  end

  def test_a_renewed_token_never_outlives_its_max_lifetime
    t = @store.issue_session("ivy", ttl: HOUR, max_lifetime: 2 * HOUR)
    @clock.advance(30 * 60)
    renewal = @store.renew(t.token, extend_by: HOUR)
    refute renewal.capped?
    assert_equal T0 + 90 * 60, renewal.record.expires_at
    renewal = @store.renew_by_id(t.id, extend_by: 5 * HOUR)
    assert renewal.capped?
    assert_equal T0 + 2 * HOUR, renewal.record.expires_at
    assert_raises(Tessera::NotFound) { @store.renew_by_id("0" * 22, extend_by: 1) }
  end

  def test_an_api_key_never_expires_unless_asked_and_scopes_and_tenant_are_enforced
    key = @store.issue_api_key("acme", subject: "alice", scopes: %w[reports:read locations:read])
    assert key.token.start_with?("tsk_")
    assert_nil key.record.expires_at
    @clock.advance(10 * 365 * DAY)
    assert @store.verify(key.token, scopes: ["reports:read"]).valid?
    assert_equal :scope_denied, @store.verify(key.token, scopes: ["reports:write"]).rejection
    assert_equal :tenant_mismatch, @store.verify(key.token, tenant: "globex").rejection
    assert @store.verify(key.token, tenant: "acme", scopes: ["locations:read"]).valid?
    assert_equal [key.id], @store.list_api_keys("acme").map(&:id)
  end

  def test_a_limited_use_token_is_valid_until_its_uses_are_spent
    reset = @store.issue_session("carol", max_uses: 2)
    assert_equal [1, 2], Array.new(2) { @store.verify(reset.token).record.uses }
    assert_equal :exhausted, @store.verify(reset.token).rejection
  end

  def test_revoking_a_tenant_revokes_its_sessions_and_keys_only
    a = @store.issue_session("u", tenant: "acme")
    k = @store.issue_api_key("acme")
    g = @store.issue_session("u", tenant: "globex")
    assert_equal 2, @store.revoke_tenant("acme")
    refute @store.verify(a.token).valid?
    refute @store.verify(k.token).valid?
    assert @store.verify(g.token).valid?
  end

  def test_the_purge_removes_only_what_is_due_in_bounded_batches
    Tessera::Store.in_memory(clock: @clock, purge_batch: 7) do |store|
      short = Array.new(20) { |i| store.issue_session("s#{i}", ttl: HOUR) }
      long = Array.new(5) { |i| store.issue_session("l#{i}", ttl: DAY) }
      @clock.advance(2 * HOUR)
      assert_equal [7, true], store.purge_batch
      assert_equal 13, store.purge_expired
      assert(short.all? { |t| store.get(t.id).nil? })
      assert(long.all? { |t| store.verify(t.token).valid? })
    end
  end

  def test_stats_count_tokens_by_state_kind_and_tenant
    @store.issue_session("u", tenant: "t1", ttl: HOUR)
    @store.issue_session("u", tenant: "t1", ttl: DAY)
    @store.issue_api_key("t2")
    @store.revoke_by_id(@store.issue_api_key("t2").id)
    @clock.advance(2 * HOUR)
    s = @store.stats
    assert_equal [2, 1, 1], s.all.to_a
    assert_equal 1, s.kinds[:api_key].revoked
    assert_equal 1, s.tenants["t1"].expired
    assert_equal 1, s.due_for_purge
  end

  def test_bad_requests_get_clear_errors
    assert_raises(Tessera::InvalidArgument) { @store.issue_session("") }
    assert_raises(Tessera::InvalidArgument) { @store.issue_session("mo", scopes: ["has space"]) }
    assert_raises(Tessera::InvalidArgument) { @store.issue_session("mo", ttl: 0) }
    assert_raises(Tessera::InvalidArgument) { @store.issue_session("mo", ttl: -1) }
    assert_raises(Tessera::InvalidUtf8) { @store.issue_session("\xff".dup.force_encoding(Encoding::UTF_8)) }
    assert_raises(TypeError) { @store.issue_session("mo", scopes: "read") }
    assert_raises(ArgumentError) { @store.issue_session("mo", colour: "blue") }
    assert_raises(ArgumentError) { Tessera::Store.in_memory(colour: "blue") }
    assert_equal 0, @store.stats.all.live
  end
end

# Opening stores, and the Ruby face of the gem: blocks, closing, errors, secrets kept out of
# inspect output, the manual clock.
class StoreObjectTest < StoreTest
  def test_a_missing_file_is_created_and_reopened_with_its_tokens
    t = Tessera::Store.open(path) { |s| s.issue_session("alice") }
    assert File.exist?(path)
    Tessera::Store.open(path) { |s| assert s.verify(t.token).valid? }
  end

  def test_the_block_form_closes_the_store_even_when_the_block_raises
    store = nil
    assert_raises(RuntimeError) { Tessera::Store.open(path) { |s| store = s; raise "boom" } }
    assert store.closed?
    Tessera::Store.open(path, session_prefix: "a", api_key_prefix: "b") { nil } # really released
  end

  def test_the_block_form_keeps_the_blocks_error_when_closing_fails_too
    free = ->(s) { Tessera::Native.tessera_store_free(s.instance_variable_get(:@handle)) }
    # A handle released behind the store's back: closing it fails (what an I/O error would do).
    assert_raises(Tessera::InvalidHandle) { Tessera::Store.open(path, &free) }
    err = assert_raises(RuntimeError) do
      Tessera::Store.open(path) do |s|
        free.call(s)
        raise "boom"
      end
    end
    assert_equal "boom", err.message
  end

  def test_a_nil_path_is_refused_not_taken_for_memory
    # ENV["TESSERA_STORE"] unset: a store in memory would be each worker's own, lost on restart.
    [-> { Tessera::Store.open(nil) }, -> { Tessera::Store.open(nil) { flunk "opened" } },
     -> { Tessera::Store.new(nil) }, -> { Tessera::Store.per_process(nil, concurrency: :multi_process) },
     -> { Tessera::Store.per_process(nil) }].each do |call|
      err = assert_raises(ArgumentError) { call.call }
      assert_includes err.message, "Tessera::Store.in_memory"
    end
    Tessera::Store.in_memory { |s| assert_nil s.path }
  end

  def test_a_path_is_a_string_or_responds_to_to_path
    Dir.chdir(@dir) do
      [false, 42, :tokens].each do |bad|
        err = assert_raises(TypeError, bad.inspect) { Tessera::Store.open(bad) }
        assert_includes err.message, "to_path"
        assert_raises(TypeError, bad.inspect) { Tessera::Store.per_process(bad) }
      end
      assert_empty Dir.children(@dir), "no file named false, 42 or tokens"
    end
    Tessera::Store.open(Pathname.new(path)) { |s| assert_equal path, s.path }
    assert File.exist?(path)
  end

  def test_a_backup_path_is_a_string_or_responds_to_to_path
    Dir.chdir(@dir) do
      Tessera::Store.in_memory do |s|
        s.issue_session("alice")
        assert_raises(ArgumentError) { s.backup(nil) }
        [false, 42].each { |bad| assert_raises(TypeError, bad.inspect) { s.backup(bad) } }
        assert_empty Dir.children(@dir), "no file named false or 42"
        assert_equal 1, s.backup(Pathname.new(path))
      end
    end
    assert File.exist?(path)
  end

  def test_a_store_in_memory_refuses_the_multi_process_mode
    # Each process would have a store of its own: the library refuses it, through the gem.
    err = assert_raises(Tessera::InvalidArgument) { Tessera::Store.in_memory(concurrency: :multi_process) }
    assert_includes err.message, "needs a file"
    Tessera::Store.in_memory(concurrency: :exclusive) { |s| assert s.verify(s.issue_session("alice").token).valid? }
  end

  def test_a_closed_store_refuses_every_call
    t = @store.issue_session("alice")
    @store.close
    @store.close
    calls = [-> { @store.issue_session("b") }, -> { @store.verify(t.token) }, -> { @store.revoke(t.token) },
             -> { @store.get(t.id) }, -> { @store.list_subject("a") }, -> { @store.stats },
             -> { @store.renew(t.token, extend_by: 1) }, -> { @store.purge_expired }, -> { @store.events },
             -> { @store.rotate(t.token) }, -> { @store.now }]
    calls.each { |call| assert_raises(Tessera::ClosedError) { call.call } }
    assert_match(/closed/, @store.inspect)
  end

  def test_opening_the_same_path_twice_gives_the_same_store
    Tessera::Store.open(path) do |one|
      Tessera::Store.open(path) do |two|
        t = two.issue_session("alice")
        assert one.verify(t.token).valid?
        assert_raises(Tessera::OptionsConflict) { Tessera::Store.open(path, session_prefix: "x", api_key_prefix: "y") }
      end
    end
  end

  def test_files_that_are_not_stores_and_peppers_get_clear_errors
    File.write(path("notes.txt"), "these are not tokens\n")
    err = assert_raises(Tessera::NotAStore) { Tessera::Store.open(path("notes.txt")) }
    assert_kind_of Tessera::StoreError, err
    pepper = "a pepper of sixteen+ bytes"
    t = Tessera::Store.open(path, pepper: pepper) { |s| s.issue_session("alice") }
    assert_raises(Tessera::PepperMismatch) { Tessera::Store.open(path) }
    Tessera::Store.open(path, pepper: pepper) { |s| assert s.verify(t.token).valid? }
  end

  def test_the_pepper_is_passed_from_memory_that_is_wiped_after_the_open
    pepper = "a pepper of sixteen+ bytes"
    real = Tessera::Native.method(:tessera_options_set_pepper)
    passed = []
    spy = lambda do |opts, ptr, len|
      passed << [ptr, len, ptr.is_a?(FFI::Pointer) && ptr.read_bytes(len)]
      real.call(opts, ptr, len)
    end
    t = Tessera::Native.stub(:tessera_options_set_pepper, spy) do
      Tessera::Store.open(path, pepper: pepper) { |s| s.issue_session("alice") }
    end
    ptr, len, seen = passed.fetch(0)
    assert_kind_of FFI::Pointer, ptr, "not a Ruby String, which nothing wipes"
    assert_equal [pepper.bytesize, pepper], [len, seen]
    assert_equal "\0" * len, ptr.read_bytes(len), "wiped once the library has its copy"
    Tessera::Store.open(path, pepper: pepper) { |s| assert s.verify(t.token).valid? }
  end

  def test_invalid_options_are_refused_with_a_reason
    [{ cache_size: 10 }, { session_prefix: "same", api_key_prefix: "same" }, { purge_batch: 0 },
     { concurrency: :multi_process, durability: :eventual }, { session_ttl: 0 }].each do |options|
      err = assert_raises(Tessera::InvalidArgument, options.inspect) { Tessera::Store.open(path, **options) }
      refute_empty err.message
      refute File.exist?(path), "a refused open creates no file"
    end
    assert_raises(ArgumentError) { Tessera::Store.open(path, concurrency: :sometimes) }
  end

  def test_a_clock_of_the_wrong_kind_is_a_type_error
    [Time.now, T0.to_i * 1000, "now", false, Object.new].each do |bad|
      err = assert_raises(TypeError, bad.inspect) { Tessera::Store.in_memory(clock: bad) }
      assert_includes err.message, "Tessera::Clock"
      assert_raises(TypeError, bad.inspect) { Tessera::Store.open(path, clock: bad) }
    end
    refute File.exist?(path), "a refused open creates no file"
  end

  def test_verify_never_raises_for_a_bad_or_missing_token
    ["not a token", "", "\xff".b, nil].each do |bad|
      outcome = @store.verify(bad)
      refute outcome.valid?
      assert_equal :malformed, outcome.rejection, bad.inspect
      assert_equal :malformed, @store.verify(bad, scopes: ["x"]).rejection, bad.inspect
    end
    assert_raises(TypeError) { @store.verify(42) }
  end

  def test_no_inspect_shows_a_secret
    t = @store.issue_session("alice")
    secret = t.token[26..]
    [t.inspect, t.to_s, @store.verify(t.token).inspect, Tessera.parse_header("Auth-Token", t.token).inspect].each do |s|
      refute_includes s, secret
    end
    assert_includes t.inspect, t.id
  end

  def test_errors_form_one_hierarchy_with_status_and_name
    err = assert_raises(Tessera::Error) { @store.revoke("tss_garbage") }
    assert_instance_of Tessera::Malformed, err
    assert_kind_of Tessera::Rejected, err
    assert_equal [1, :malformed], [err.status, err.status_name]
    assert_operator Tessera::ClosedError, :<, Tessera::UsageError
    assert_operator Tessera::ForkedChild, :<, Tessera::UsageError
    assert_operator Tessera::Locked, :<, Tessera::StoreError
    assert_operator Tessera::UnknownScheme, :<, Tessera::CredentialError
    assert_operator Tessera::PanicError, :<, Tessera::LibraryFault
  end

  def test_the_manual_clock_moves_only_when_told
    assert_equal T0, @store.now
    @clock.advance(1.5)
    assert_equal T0 + 1.5, @store.now
    @clock.set(Time.utc(2030, 1, 1))
    assert_equal Time.utc(2030, 1, 1), @store.now
    assert_raises(Tessera::InvalidArgument) { @clock.advance(-1) }
    assert_equal 1_893_456_000_000, @clock.now_ms
  end

  def test_closing_under_load_stops_every_thread_with_closed_error
    store = Tessera::Store.open(path)
    token = store.issue_session("alice").token
    started = Queue.new
    threads = Array.new(8) do
      Thread.new do
        started << true
        n = 0
        loop do
          raise "a valid token was refused" unless store.verify(token).valid?

          n += 1
        end
      rescue Tessera::ClosedError
        n
      end
    end
    8.times { started.pop }
    store.close
    # `value` re-raises whatever ended a thread other than ClosedError (a refused valid token, a
    # crash): every thread must have stopped with it.
    threads.each(&:value)
    Tessera::Store.open(path) { |again| assert again.verify(token).valid? }
  end

  def test_threads_share_one_store
    tokens = Array.new(8) { |n| Thread.new { Array.new(20) { |i| @store.issue_session("u#{n}", label: i.to_s).token } } }
                  .flat_map(&:value)
    assert_equal 160, tokens.uniq.size
    assert(Array.new(4) { |n| Thread.new { tokens.each_slice(4).map { |s| s[n] }.compact.all? { |t| @store.verify(t).valid? } } }
                .all?(&:value))
  end
end

# Child tokens, rotation, rolling, caps, revoke-before and the audit feed.
class LifecycleTest < StoreTest
  def setup
    super
    @store.close
    @store = Tessera::Store.in_memory(clock: @clock, rotation_grace: 30, event_retention: 1000,
                                      subject_caps: { session: [2, :evict_oldest], api_key: [1, :refuse] })
  end

  def test_a_child_never_outlives_its_parent_and_dies_with_it
    parent = @store.issue_session("frank", ttl: HOUR)
    child = @store.issue_child(parent.token, kind: :api_key, tenant: "partner", ttl: 2 * HOUR)
    assert child.clamped?
    assert_equal parent.id, child.record.parent
    second = @store.issue_child_by_id(parent.id, subject: "frank", ttl: 60)
    refute second.clamped?
    assert_equal [child.id, second.id].sort, @store.children(parent.id).map(&:id).sort
    @store.revoke(parent.token)
    assert_equal :revoked, @store.verify(child.token).rejection
    assert_equal :cascade, @store.get(child.id).revoke_reason
  end

  def test_rotation_grace_and_reuse_detection
    first = @store.issue_session("gina")
    second = @store.rotate(first.token)
    assert_equal first.id, second.record.family
    assert_equal :rotated, @store.get(first.id).replacement
    assert @store.verify(first.token).valid?
    @clock.advance(31)
    assert_equal :reuse_detected, @store.verify(first.token).rejection
    assert_equal :revoked, @store.verify(second.token).rejection
  end

  def test_caps_rolling_and_revoke_before
    logins = Array.new(3) { @store.issue_session("gina").tap { @clock.advance(1) } }
    assert_equal :cap_eviction, @store.get(logins[0].id).revoke_reason
    k1 = @store.issue_api_key("acme", subject: "hank", scopes: ["deploy"])
    err = assert_raises(Tessera::LimitReached) { @store.issue_api_key("acme", subject: "hank") }
    assert_equal 21, err.status
    k2 = @store.roll(k1.token, grace: 60)
    assert_equal ["deploy"], k2.record.scopes
    @clock.advance(60)
    assert_equal :expired, @store.verify(k1.token).rejection
    @store.revoke_issued_before(@store.now + 1, tenant: "acme")
    assert_equal :revoked, @store.verify(k2.token).rejection
    assert @store.verify(logins[2].token).valid?
    @store.revoke_issued_before(@store.now + 1)
    refute @store.verify(logins[2].token).valid?
    kinds = @store.events.map(&:kind)
    assert_includes kinds, :rolled
    assert_equal "store", @store.events.last.scope
  end
end
