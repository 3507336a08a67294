# frozen_string_literal: true

require_relative "test_helper"

# A store handle carried across fork(): the documented error in the child, and the child that
# opens the store itself works.
class ForkTest < StoreTest
  def attempt
    yield
    "ok"
  rescue Tessera::Error => e
    e.status_name.to_s
  end

  def test_a_handle_opened_before_fork_fails_safe_and_the_child_opens_its_own
    Tessera::Store.open(path, concurrency: :multi_process) do |store|
      token = store.issue_session("parent").token
      child = in_child do
        result = {
          "inherited_verify" => attempt { store.verify(token) },
          "inherited_issue" => attempt { store.issue_session("child") },
          "inherited_close" => attempt { store.close }
        }
        Tessera::Store.open(path, concurrency: :multi_process) do |own|
          result["own_verify"] = own.verify(token).valid? ? "ok" : own.verify(token).rejection.to_s
          result["own_token"] = own.issue_session("child").token
        end
        result
      end
      assert_equal "forked_child", child["inherited_verify"], child.inspect
      assert_equal "forked_child", child["inherited_issue"]
      assert_equal "ok", child["inherited_close"], "closing an inherited store only forgets it"
      assert_equal "ok", child["own_verify"]
      assert store.verify(token).valid?, "the parent's handle still works"
      assert store.verify(child["own_token"]).valid?, "the parent sees what the child issued"
    end
  end

  def test_in_exclusive_mode_a_forked_child_cannot_open_the_parents_file
    Tessera::Store.open(path) do |store|
      token = store.issue_session("parent").token
      child = in_child do
        { "inherited" => attempt { store.verify(token) },
          "own" => attempt { Tessera::Store.open(path).close } }
      end
      assert_equal({ "inherited" => "forked_child", "own" => "locked" }, child)
      assert store.verify(token).valid?
    end
  end

  def test_forked_child_is_a_usage_error_with_status_106
    assert_equal 106, Tessera::ForkedChild.status
    assert_operator Tessera::ForkedChild, :<, Tessera::UsageError
  end
end
