# frozen_string_literal: true

require_relative "test_helper"
require "open3"

# The gem as a user installs it: built with the library inside, installed into an empty
# GEM_HOME, required from elsewhere, working with no path to set.
class GemTest < Minitest::Test
  GEM_DIR = File.expand_path("..", __dir__)

  def test_the_built_gem_carries_the_library_and_works_once_installed
    lib = File.join(GEM_DIR, "lib", Tessera::Native::LIBRARY_NAME)
    skip "no #{lib}: run `rake build_library` (run-tests does)" unless File.exist?(lib)
    Dir.mktmpdir("tessera-gem") do |dir|
      _, err, st = Open3.capture3("gem", "build", File.join(GEM_DIR, "tessera.gemspec"), "--output",
                                  File.join(dir, "tessera.gem"), chdir: GEM_DIR)
      assert st.success?, err
      home = File.join(dir, "home")
      _, err, st = Open3.capture3({ "GEM_HOME" => home }, "gem", "install", "--local", "--ignore-dependencies",
                                  "--no-document", File.join(dir, "tessera.gem"))
      assert st.success?, err
      script = 'require "tessera"; puts Tessera::Native::LIBRARY_PATH; ' \
               'Tessera::Store.in_memory { |s| puts s.verify(s.issue_session("a").token).valid? }'
      env = { "GEM_HOME" => home, "GEM_PATH" => [home, *Gem.path].join(File::PATH_SEPARATOR), "TESSERA_LIB" => nil,
              "RUBYLIB" => nil }
      out, err, st = Open3.capture3(env, RbConfig.ruby, "-e", script, chdir: dir)
      assert st.success?, err
      path, valid = out.lines.map(&:strip)
      assert path.start_with?(File.join(home, "gems")), path
      assert_equal "true", valid
    end
  end
end
