# frozen_string_literal: true

require "json"
require_relative "password"

module SeedApis
  # The accounts file (accounts.json, or $SEED_ACCOUNTS): per seed, its organizations or
  # companies and its users, each user with a "login" and a salted "password" hash.
  #
  #   Accounts.current.user("flame", "support@flameanalytics.com")
  #
  # The file is read again when it changes (add-account replaces it atomically), so new
  # accounts work without restarting the workers.
  class Accounts
    DEFAULT_PATH = File.expand_path("../../accounts.json", __dir__)
    SEEDS = %w[flame eyenetra bookingbug webitel overvis].freeze
    # The subject of a user's tokens in the store, per seed (add-account ends them by it).
    SUBJECTS = {
      "flame" => ->(user) { "flame/user/#{user["id"]}" },
      "eyenetra" => ->(user) { "eyenetra/user/#{user["id"]}" },
      "bookingbug" => ->(user) { "bookingbug/admin/#{user["id"]}" },
      "webitel" => ->(user) { "webitel/user/#{user["login"]}" },
      "overvis" => ->(key) { "overvis/key/#{key["login"]}" }
    }.freeze

    @lock = Mutex.new
    @loaded = nil
    @stamp = nil

    class << self
      def path
        ENV.fetch("SEED_ACCOUNTS", DEFAULT_PATH)
      end

      # The subject of the tokens +user+ of +seed+ logs in to.
      def subject(seed, user)
        SUBJECTS.fetch(seed).call(user)
      end

      # The accounts as the file is now (re-read when its inode, size or mtime changed).
      def current
        @lock.synchronize do
          st = File.stat(path)
          stamp = [st.ino, st.size, st.mtime.to_r]
          if @loaded.nil? || stamp != @stamp
            @loaded = new(JSON.parse(File.read(path)))
            @stamp = stamp
          end
          @loaded
        end
      end
    end

    def initialize(data)
      @data = data
      SEEDS.each { |s| raise ArgumentError, "accounts file: no #{s.inspect} section" unless data[s].is_a?(Hash) }
    end

    # The user of +seed+ whose login is +login+ (case-insensitive), or nil; a login that is not
    # UTF-8 matches nobody.
    def user(seed, login)
      wanted = login.to_s.dup.force_encoding(Encoding::UTF_8)
      return nil if wanted.empty? || !wanted.valid_encoding?

      wanted = wanted.downcase
      users(seed).find { |u| u["login"].downcase == wanted }
    end

    def users(seed)
      @data.fetch(seed).fetch("users", [])
    end

    # The user of +seed+ with this login whose password matches, or nil (one password
    # derivation either way).
    def authenticate(seed, login, password)
      u = user(seed, login)
      ok = Password.match?(password.to_s, u && u["password"])
      ok ? u : nil
    end

    # An entry of a seed's list (organizations, companies, apps) by id.
    def find(seed, list, id)
      @data.fetch(seed).fetch(list, []).find { |e| e["id"].to_s == id.to_s }
    end

    def list(seed, name)
      @data.fetch(seed).fetch(name, [])
    end
  end
end
