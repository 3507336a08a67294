# frozen_string_literal: true

require_relative "test_helper"

# The golden vectors (tests/vectors/golden.json), as every language's tests read them.
class VectorsTest < Minitest::Test
  include TesseraTest

  def bytes(c, key)
    c.key?("#{key}_hex") ? [c["#{key}_hex"]].pack("H*") : c.fetch(key).b
  end

  def test_every_token_vector_verifies_as_expected
    vectors = TesseraTest.golden
    assert_operator vectors["tokens"].size, :>=, 20
    Tessera::Store.in_memory do |store|
      vectors["tokens"].each do |c|
        outcome = store.verify(bytes(c, "text"))
        refute outcome.valid?, c["name"]
        assert_equal c["verify"].to_sym, outcome.rejection, c["name"]
        next unless c["reason"]

        assert_includes outcome.detail, vectors["reason_messages"].fetch(c["reason"]), c["name"]
      end
    end
  end

  def test_well_formed_vectors_carry_the_id_the_store_sees
    Tessera::Store.in_memory do |store|
      TesseraTest.golden["tokens"].select { |c| c["verify"] == "unknown_token" }.each do |c|
        assert_equal c["id"], c["text"].split("_", 2)[1][0, 22]
        assert_raises(Tessera::NotFound) { store.revoke_by_id(c["id"]) }
        assert_raises(Tessera::UnknownToken) { store.revoke(c["text"]) }
      end
    end
  end

  def test_malformed_vectors_are_refused_by_every_call_that_takes_a_token
    Tessera::Store.in_memory do |store|
      TesseraTest.golden["tokens"].select { |c| c["verify"] == "malformed" }.each do |c|
        assert_raises(Tessera::Malformed, c["name"]) { store.revoke(bytes(c, "text")) }
        assert_raises(Tessera::Malformed, c["name"]) { store.renew(bytes(c, "text"), extend_by: 1) }
      end
    end
  end

  def test_every_header_vector_parses_as_expected
    headers = TesseraTest.golden["headers"]
    assert_operator headers.size, :>=, 30
    headers.each do |c|
      name = bytes(c, "name")
      value = bytes(c, "value")
      label = "#{c["name"]}: #{c["value"].to_s[0, 40].inspect} (#{c["why"]})"
      if c["error"]
        err = assert_raises(Tessera::CredentialError, label) { Tessera.parse_header(name, value) }
        assert_equal c["error"].to_sym, err.status_name, label
      else
        cred = Tessera.parse_header(name, value)
        assert_equal c["scheme"].to_sym, cred.scheme, label
        assert_equal c["token"], cred.token, label
      end
    end
  end

  def test_authorization_vectors_parse_the_same_through_parse_authorization
    TesseraTest.golden["headers"].select { |c| c["name"].to_s.casecmp?("authorization") }.each do |c|
      value = bytes(c, "value")
      if c["error"]
        err = assert_raises(Tessera::CredentialError) { Tessera.parse_authorization(value) }
        assert_equal c["error"].to_sym, err.status_name
      else
        assert_equal c["token"], Tessera.parse_authorization(value).token
      end
    end
  end

  def issue(store, spec)
    fields = {}
    { "ttl_ms" => :ttl, "idle_timeout_ms" => :idle_timeout, "max_lifetime_ms" => :max_lifetime }.each do |k, key|
      fields[key] = spec[k] == -1 ? :never : Rational(spec[k], 1000) if spec.key?(k)
    end
    fields[:max_uses] = spec["max_uses"] if spec.key?("max_uses")
    spec["kind"] == "session" ? store.issue_session("golden", **fields) : store.issue_api_key("golden", **fields)
  end

  TesseraTest.golden["expiry"].each_with_index do |c, i|
    define_method("test_expiry_vector_#{i}_#{c["name"].gsub(/\W+/, "_")}") do
      clock = Tessera::Clock.new(TesseraTest.golden["clock_start_ms"])
      Tessera::Store.in_memory(clock: clock) do |store|
        token = issue(store, c["issue"]).token
        c["steps"].each_with_index do |step, n|
          clock.advance(Rational(step["advance_ms"], 1000))
          where = "#{c["name"]}, step #{n}"
          if step["action"] == "verify"
            outcome = store.verify(token)
            assert_equal step["expect"], outcome.valid? ? "ok" : outcome.rejection.to_s, where
          elsif step["expect"] == "ok"
            renewal = store.renew(token, extend_by: Rational(step["extend_by_ms"], 1000))
            assert_equal step["capped"], renewal.capped?, where if step.key?("capped")
          else
            err = assert_raises(Tessera::Error, where) { store.renew(token, extend_by: Rational(step["extend_by_ms"], 1000)) }
            assert_equal step["expect"].to_sym, err.status_name, where
          end
        end
      end
    end
  end
end
