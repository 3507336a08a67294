# frozen_string_literal: true

require_relative "test_helper"
require "pp"
require "rack/test"
require "rack/lint"
require "tessera/rack"

# Arguments as the C ABI reads them: an empty String is not nil, integers out of the C types'
# ranges are refused before the call (never wrapped); and no secret in pp or pretty_inspect.
class ArgumentsTest < StoreTest
  U64 = 2**64
  I64 = 2**63

  # --- "" is not nil ------------------------------------------------------------------------

  def test_the_default_tenant_is_a_tenant_of_revoke_issued_before
    default = @store.issue_session("alice")
    acme = @store.issue_session("alice", tenant: "acme")
    @clock.advance(0.001)
    @store.revoke_issued_before(@store.now, tenant: "")
    assert_equal :revoked, @store.verify(default.token).rejection
    assert @store.verify(acme.token).valid?
  end

  def test_a_cutoff_more_than_a_day_ahead_is_refused
    t = @store.issue_session("alice")
    micros = (@store.now.to_r * 1_000_000).to_i # microseconds where milliseconds are expected
    err = assert_raises(Tessera::InvalidArgument) { @store.revoke_issued_before(micros) }
    assert_includes err.message, "more than a day"
    assert @store.verify(t.token).valid?
    assert @store.verify(@store.issue_session("alice").token).valid?
  end

  def test_a_cutoff_in_seconds_is_refused
    t = @store.issue_session("alice")
    seconds = @store.now.to_i # Unix seconds where milliseconds are expected: January 1970
    err = assert_raises(Tessera::InvalidArgument) { @store.revoke_issued_before(seconds, subject: "alice") }
    assert_includes err.message, "seconds"
    assert @store.verify(t.token).valid?
  end

  def test_an_empty_except_id_is_not_an_id_and_revokes_nothing
    tokens = Array.new(3) { @store.issue_session("alice") }
    err = assert_raises(Tessera::InvalidArgument) { @store.revoke_subject("alice", except_id: "") }
    assert_includes err.message, "except_id"
    assert(tokens.all? { |t| @store.verify(t.token).valid? })
    assert_equal 3, @store.revoke_subject("alice", except_id: nil)
  end

  def test_an_empty_subject_of_revoke_issued_before_is_a_name_not_the_store_scope
    t = @store.issue_session("alice")
    @clock.advance(0.001)
    @store.revoke_issued_before(@store.now, subject: "") # nobody's tokens
    assert @store.verify(t.token).valid?
    @store.revoke_issued_before(@store.now) # the whole store
    assert_equal :revoked, @store.verify(t.token).rejection
  end

  def test_false_is_not_nil_either
    t = @store.issue_session("alice")
    @clock.advance(0.001)
    %i[tenant subject].each do |scope|
      assert_raises(TypeError) { @store.revoke_issued_before(@store.now, scope => false) }
    end
    assert @store.verify(t.token).valid?, "a false scope must not revoke the whole store"
    assert_raises(TypeError) { @store.issue_session("alice", tenant: false) }
    assert_raises(TypeError) { @store.verify(t.token, tenant: false) }
  end

  def test_a_clock_shows_its_time
    assert_match(/Tessera::Clock.*T/, Tessera::Clock.new(T0).inspect)
    # In a process that loads only the gem (this one has rack, which loads "time" for it).
    lib = File.expand_path("../lib", __dir__)
    out = IO.popen([RbConfig.ruby, "-I", lib, "-e", 'require "tessera"; print Tessera::Clock.new(0).inspect'],
                   err: %i[child out], &:read)
    assert_equal "#<Tessera::Clock 1970-01-01T00:00:00.000Z>", out
  end

  # --- integers out of range ----------------------------------------------------------------

  def refused(what, &block)
    err = assert_raises(Tessera::InvalidArgument, &block)
    assert_includes err.message, what
  end

  def test_counts_of_options_out_of_range_are_refused
    %i[cache_size purge_batch max_metadata_len event_retention].each do |option|
      [-1, -U64 + 5, U64, U64 + 1000].each do |value|
        refused(option.to_s) { Tessera::Store.in_memory(option => value) }
      end
    end
    [-1, U64].each do |value|
      refused("subject_caps") { Tessera::Store.in_memory(subject_caps: { session: [value, :refuse] }) }
    end
    # A fraction is not truncated (0.5 would have turned the audit feed off).
    %i[cache_size purge_batch max_metadata_len event_retention].each do |option|
      assert_raises(TypeError) { Tessera::Store.in_memory(option => 2**21 + 0.5) }
    end
    assert_raises(TypeError) { Tessera::Store.in_memory(subject_caps: { session: [2.9, :refuse] }) }
  end

  def test_durations_beyond_int64_milliseconds_are_refused
    Tessera::Store::OPTION_DURATIONS.each_key do |option|
      # 2**64 - 5 ms would wrap to -5 in an int64_t.
      [Rational(I64, 1000), Rational(U64 - 5, 1000), 1e30, Float::INFINITY, Float::NAN].each do |seconds|
        refused(option.to_s) { Tessera::Store.in_memory(option => seconds) }
      end
    end
  end

  def test_a_negative_duration_is_refused_even_below_a_millisecond
    # -0.0004 s rounds to 0 ms: it must be refused as negative, not taken as "no grace".
    tiny = [-0.0004, Rational(-1, 10_000), -1]
    Tessera::Store::OPTION_DURATIONS.each_key do |option|
      tiny.each { |seconds| refused(option.to_s) { Tessera::Store.in_memory(option => seconds) } }
    end
    t = @store.issue_session("alice", ttl: HOUR)
    k = @store.issue_api_key("acme")
    tiny.each do |seconds|
      refused("ttl") { @store.issue_session("alice", ttl: seconds) }
      refused("extend_by") { @store.renew(t.token, extend_by: seconds) }
      refused("grace") { @store.roll(k.token, grace: seconds) }
      refused("seconds") { @clock.advance(seconds) }
    end
    assert_equal [t.id], @store.list_subject("alice").map(&:id)
    assert @store.verify(k.token).valid?, "a refused roll must not replace the key"
    assert_equal T0, @clock.now
  end

  # --- durations and instants to the millisecond ----------------------------------------------

  # Positive durations that round to 0 ms: refused, never taken as "no time at all".
  UNDER_HALF_A_MS = [0.0004, Rational(1, 10_000), Rational(499, 1_000_000), 1e-9].freeze

  def refused_under_a_millisecond(what, &block)
    err = assert_raises(Tessera::InvalidArgument, &block)
    assert_match(/\A#{what} is .*whole milliseconds/, err.message)
  end

  def test_a_positive_duration_under_half_a_millisecond_is_refused_not_taken_as_none
    Tessera::Store::OPTION_DURATIONS.each_key do |option|
      UNDER_HALF_A_MS.each do |seconds|
        refused_under_a_millisecond(option) { Tessera::Store.in_memory(option => seconds) }
      end
    end
    t = @store.issue_session("alice", ttl: HOUR)
    k = @store.issue_api_key("acme")
    UNDER_HALF_A_MS.each do |seconds|
      refused_under_a_millisecond("ttl") { @store.issue_session("alice", ttl: seconds) }
      refused_under_a_millisecond("idle_timeout") { @store.issue_session("alice", idle_timeout: seconds) }
      refused_under_a_millisecond("max_lifetime") { @store.issue_api_key("acme", max_lifetime: seconds) }
      refused_under_a_millisecond("ttl") { @store.issue_child(t.token, subject: "bob", ttl: seconds) }
      refused_under_a_millisecond("extend_by") { @store.renew(t.token, extend_by: seconds) }
      refused_under_a_millisecond("grace") { @store.roll(k.token, grace: seconds) }
      refused_under_a_millisecond("seconds") { @clock.advance(seconds) }
    end
    assert_equal [t.id], @store.list_subject("alice").map(&:id)
    assert_equal [k.id], @store.list_api_keys("acme").map(&:id), "a refused roll must not replace the key"
    assert_equal T0, @clock.now
    # Zero is no positive duration lost to rounding.
    @clock.advance(0.0)
    assert_equal T0, @clock.now
  end

  def test_durations_round_to_the_nearest_millisecond_half_up
    # Half a millisecond and more rounds up (2.5 ms is 3 ms, not 2: half up, as in Python).
    { 0.0005 => 1, 0.0009 => 1, 0.0014 => 1, 0.0015 => 2, Rational(5, 2000) => 3,
      Rational(2999, 1_000_000) => 3 }.each do |seconds, ms|
      s = @store.issue_session("bob", idle_timeout: seconds)
      assert_equal Rational(ms, 1000), s.record.idle_timeout, seconds.to_s
    end
    @clock.advance(Rational(3, 2000))
    assert_equal 1_700_000_000_002, @clock.now_ms
    # 0.9 ms of rotation grace is 1 ms, not none: a retry at once gets the same successor.
    Tessera::Store.in_memory(clock: @clock, rotation_grace: 0.0009) do |store|
      t = store.issue_session("alice")
      successor = store.rotate(t.token)
      assert_equal successor.id, store.rotate(t.token).id
      @clock.advance(0.001)
      assert_equal :reuse_detected, store.verify(t.token).rejection
    end
  end

  def test_instants_are_floored_to_the_millisecond_as_the_store_clock_counts
    t = @store.issue_session("alice") # at T0
    # 0.9 ms past T0 is T0 (not T0 + 1 ms, as rounding made it): alice's token was not issued
    # strictly before it.
    @store.revoke_issued_before(T0 + Rational(9, 10_000))
    assert @store.verify(t.token).valid?
    @store.revoke_issued_before(T0 + Rational(1, 1000))
    assert_equal :revoked, @store.verify(t.token).rejection
    assert_equal 1_700_000_000_000, Tessera::Clock.new(T0 + Rational(9, 10_000)).now_ms
    clock = Tessera::Clock.new(T0)
    clock.set(Time.at(Rational(-4, 10_000))) # floored before 1970 too: -1, not 0
    assert_equal(-1, clock.now_ms)
  end

  def test_the_audit_feed_refuses_a_cursor_or_limit_out_of_range
    @store.issue_session("alice")
    refused("since") { @store.events(since: -1) }
    refused("since") { @store.events(since: U64) }
    refused("limit") { @store.events(limit: -1) }
    refused("limit") { @store.events(limit: U64) }
    assert_equal 1, @store.events(since: 0, limit: 10).size
  end

  def test_requests_refuse_numbers_out_of_range
    refused("max_uses") { @store.issue_session("alice", max_uses: U64) }
    refused("max_uses") { @store.issue_session("alice", max_uses: -1) }
    refused("ttl") { @store.issue_session("alice", ttl: Rational(U64 - 5, 1000)) }
    refused("idle_timeout") { @store.issue_session("alice", idle_timeout: Float::INFINITY) }
    refused("max_lifetime") { @store.issue_session("alice", max_lifetime: Rational(I64, 1000)) }
    t = @store.issue_session("alice", ttl: HOUR)
    refused("extend_by") { @store.renew(t.token, extend_by: Rational(U64 - 5, 1000)) }
    k = @store.issue_api_key("acme")
    refused("grace") { @store.roll(k.token, grace: Rational(I64, 1000)) }
    assert_equal [t.id], @store.list_subject("alice").map(&:id)
  end

  def test_instants_beyond_int64_milliseconds_are_refused
    refused("time") { @store.revoke_issued_before(I64) }
    refused("time") { @store.revoke_issued_before(-I64 - 1) }
    refused("time") { @store.revoke_issued_before(Time.at(U64)) }
    refused("start") { Tessera::Clock.new(U64 - 5) }
    clock = Tessera::Clock.new(T0)
    refused("time") { clock.set(I64) }
    refused("seconds") { clock.advance(Rational(U64 - 5, 1000)) }
    assert_equal T0, clock.now
  end

  def test_the_largest_values_in_range_still_reach_the_library
    # In range for the C types: the library judges them (and accepts these, but the cutoff and
    # the clock's start, which it refuses for its own reasons: before 2000, after 9999).
    refused("seconds where milliseconds") { @store.revoke_issued_before(-I64) }
    assert_equal [], @store.events(since: U64 - 1, limit: 0)
    refused("years 1 to 9999") { Tessera::Clock.new(I64 - 1) }
    assert_equal 253_402_300_799_999, Tessera::Clock.new(253_402_300_799_999).now_ms
    Tessera::Store.in_memory(event_retention: 10_000, max_metadata_len: 10) do |s|
      assert s.issue_session("bob", max_uses: U64 - 1, ttl: DAY).record.max_uses == U64 - 1
    end
  end

  # --- no secret in pp --------------------------------------------------------------------------

  def test_pp_and_pretty_inspect_show_no_secret
    t = @store.issue_session("alice")
    secret = t.token[26..]
    cred = Tessera.parse_header("Auth-Token", t.token)
    assert_equal t.token, cred.token
    assert_equal :bare, cred.scheme
    assert_equal Tessera::Credential.new(:bare, t.token), cred
    assert cred.frozen?
    pepper = "a pepper of 32 bytes, not less!!"
    per_process = Tessera::Store.per_process(path, pepper: pepper)
    middleware = Tessera::Rack::Authenticate.new(->(_env) { [200, {}, []] }, store: per_process)
    [cred, t, [cred, t], { token: cred }].each do |o|
      [o.pretty_inspect, PP.pp(o, +""), PP.singleline_pp(o, +""), o.inspect].each do |shown|
        refute_includes shown, secret
        refute_includes shown, t.token
      end
    end
    [per_process, middleware].each do |o|
      [o.pretty_inspect, o.inspect, PP.singleline_pp(o, +"")].each do |shown|
        refute_includes shown, pepper
        refute_includes shown, pepper.unpack1("H*")
      end
    end
    assert_includes cred.pretty_inspect, "REDACTED"
    out, = capture_io { pp cred }
    refute_includes out, secret
  end
end

# X-Key is compared before the token is verified: a wrong X-Key uses up nothing.
class XKeyTest < StoreTest
  include Rack::Test::Methods

  def app
    store = @app_store || @store
    Rack::Lint.new(Rack::Builder.new do
      use Tessera::Rack::Authenticate, store: store
      run ->(_env) { [200, { "content-type" => "text/plain" }, ["ok"]] }
    end.to_app)
  end

  def test_a_wrong_x_key_does_not_use_up_a_limited_use_token
    t = @store.issue_session("webitel-user", max_uses: 1)
    other = @store.issue_session("someone")
    get "/", {}, "HTTP_X_ACCESS_TOKEN" => t.token, "HTTP_X_KEY" => other.id
    assert_equal 401, last_response.status
    assert_equal :x_key_mismatch, last_request.env["tessera.rejection"]
    assert_equal 0, @store.get(t.id).uses
    get "/", {}, "HTTP_X_ACCESS_TOKEN" => t.token, "HTTP_X_KEY" => "garbage"
    assert_equal :x_key_mismatch, last_request.env["tessera.rejection"]
    assert_equal 0, @store.get(t.id).uses
    get "/", {}, "HTTP_X_ACCESS_TOKEN" => t.token, "HTTP_X_KEY" => t.id
    assert_equal 200, last_response.status
    assert_equal 1, @store.get(t.id).uses
    get "/", {}, "HTTP_X_ACCESS_TOKEN" => t.token, "HTTP_X_KEY" => t.id
    assert_equal :exhausted, last_request.env["tessera.rejection"]
  end

  def test_a_prefix_with_underscores_still_gives_the_id
    Tessera::Store.in_memory(session_prefix: "my_app_s", clock: @clock) do |store|
      @app_store = store
      t = store.issue_session("u", max_uses: 2)
      get "/", {}, "HTTP_X_ACCESS_TOKEN" => t.token, "HTTP_X_KEY" => t.id
      assert_equal 200, last_response.status
      assert_equal 1, store.get(t.id).uses
    end
  end
end
