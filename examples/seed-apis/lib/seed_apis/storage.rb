# frozen_string_literal: true

require "fileutils"
require "tessera"

module SeedApis
  # The one tessera store of the five APIs: a file ($TESSERA_STORE, default data/tessera.redb),
  # opened in multi-process mode by every Puma worker (Store.per_process: each worker opens its
  # own handle after the fork, on first use).
  #
  # The five APIs share it; their tokens are told apart by namespaced tenants and subjects
  # ("flame/org/1", "bookingbug/company/37001", ...), and every prefix accepts only its own.
  module Storage
    DEFAULT_PATH = File.expand_path("../../data/tessera.redb", __dir__)

    module_function

    def path
      p = ENV.fetch("TESSERA_STORE", "")
      p.empty? ? DEFAULT_PATH : File.expand_path(p)
    end

    def options
      opts = { concurrency: :multi_process }
      # Optional: a pepper keys the stored hashes, so that a copied file alone verifies nothing.
      pepper = ENV.fetch("TESSERA_PEPPER", "")
      opts[:pepper] = pepper unless pepper.empty?
      opts
    end

    # This process's store (opened on first use in each process).
    STORE = Tessera::Store.per_process(path, **options)

    def store
      STORE.call
    end

    # Creates the store file if it does not exist yet, under an exclusive file lock: processes
    # that create a new multi-process store at the same instant can fail with NotAStore (a
    # known core race), so `serve` calls this once before Puma forks, and config.ru calls it
    # again in each worker (harmless once the file exists).
    def prepare!
      FileUtils.mkdir_p(File.dirname(path))
      File.open("#{path}.create-lock", File::RDWR | File::CREAT, 0o600) do |lock|
        lock.flock(File::LOCK_EX)
        Tessera::Store.open(path, **options) { nil } unless File.size?(path)
      end
      path
    end
  end
end
