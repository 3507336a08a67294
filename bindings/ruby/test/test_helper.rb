# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "minitest/autorun"
require "json"
require "tmpdir"
require "zlib"
require "tessera"

module TesseraTest
  REPO = File.expand_path("../../..", __dir__)
  GOLDEN = File.join(REPO, "tests", "vectors", "golden.json")
  HEADER = File.join(REPO, "include", "tessera.h")
  T0 = Time.at(1_700_000_000).utc # the manual clock's start
  HOUR = 3600
  DAY = 24 * HOUR
  ALPHABET = [*"0".."9", *"A".."Z", *"a".."z"].join

  def self.golden
    @golden ||= JSON.parse(File.read(GOLDEN))
  end

  # `signed` with its 6 base62 check digits (CRC-32), as src/token_text.rs computes them.
  def self.seal(signed)
    value = Zlib.crc32(signed)
    digits = Array.new(6) { d = value % 62; value /= 62; ALPHABET[d] }
    signed + digits.reverse.join
  end

  # `token`'s prefix and id with `other`'s secret, well-formed.
  def self.with_secret_of(token, other)
    cut = token.size - 72
    seal(token[0, cut + 22] + other[cut + 22, 44])
  end

  # The full path of a program on PATH, or nil.
  def self.which(program)
    ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |d| File.join(d, program) }
       .find { |p| File.file?(p) && File.executable?(p) }
  end

  # The C compiler, if any (run-tests installs gcc).
  def self.cc
    which("cc") || which("gcc")
  end
end

# A test with a manual clock, an in-memory store and a temporary directory.
class StoreTest < Minitest::Test
  include TesseraTest

  def setup
    @clock = Tessera::Clock.new(T0)
    @store = Tessera::Store.in_memory(clock: @clock)
    @dir = Dir.mktmpdir("tessera-rb")
  end

  def teardown
    @store.close
    FileUtils.rm_rf(@dir)
  end

  def path(name = "tokens.redb")
    File.join(@dir, name)
  end

  # Runs the block in a forked child; returns what it wrote as JSON (the child exits with exit!).
  def in_child
    r, w = IO.pipe
    pid = fork do
      r.close
      result = begin
        yield
      rescue Exception => e # rubocop:disable Lint/RescueException
        { "crash" => "#{e.class}: #{e.message}" }
      end
      w.write(JSON.generate(result))
      w.close
      exit!(0)
    end
    w.close
    out = r.read
    r.close
    _, status = Process.wait2(pid)
    assert status.success?, "child #{status.inspect}"
    JSON.parse(out)
  end
end
