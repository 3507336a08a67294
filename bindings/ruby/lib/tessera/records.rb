# frozen_string_literal: true

module Tessera
  KINDS = { session: 1, api_key: 2 }.freeze
  REVOKE_REASONS = {
    none: 0, logout: 1, by_id: 2, subject: 3, tenant: 4, cascade: 5, reuse: 6, cap_eviction: 7
  }.freeze
  REPLACEMENTS = { none: 0, rotated: 1, rolled: 2 }.freeze
  SCHEMES = { token: 1, bearer: 2, api_key: 3, bare: 4 }.freeze
  EVENT_KINDS = {
    issued: 1, renewed: 2, rotated: 3, rolled: 4, revoked: 5, revoked_before: 6, used: 7, purged: 8
  }.freeze
  CAP_POLICIES = { refuse: 1, evict_oldest: 2, evict_least_recently_used: 3 }.freeze
  DURABILITIES = { durable: 1, eventual: 2 }.freeze
  CONCURRENCIES = { exclusive: 1, multi_process: 2 }.freeze
  REVOKE_SCOPES = { store: 1, tenant: 2, subject: 3 }.freeze
  # The verify rejections, by status number.
  REJECTIONS = STATUSES.select { |_, n| n.between?(1, 10) }.invert.freeze

  # A symbol of an enum table (the number itself if the library is newer than this gem).
  def self.name_of(table, number)
    table.key(number) || number
  end

  # Everything the store knows about a token, except its secret. Instants are UTC Times,
  # durations seconds (Integer, or a Rational exact to the millisecond); nil means "has none".
  Record = Struct.new(
    :id, :kind, :tenant, :subject, :scopes, :label, :metadata, :created_at, :expires_at,
    :idle_timeout, :max_lifetime, :last_used_at, :deadline, :uses, :max_uses, :parent, :family,
    :successor, :replaced_at, :grace_until, :replacement, :revoked, :revoked_at, :revoke_reason,
    keyword_init: true
  ) do
    def revoked?
      revoked
    end

    # Copies a library-allocated tessera_record.
    def self.from_native(r)
      t = ->(flag, ms) { flag ? TimeUnits.time_of(ms) : nil }
      scopes = Array.new(r[:scopes_len]) do |i|
        Native::Str.new(r[:scopes] + (i * Native::Str.size)).to_s_or_nil
      end
      new(
        id: Native.id_of(r[:id]),
        kind: Tessera.name_of(KINDS, r[:kind]),
        tenant: r[:tenant].to_s_or_nil || "",
        subject: r[:subject].to_s_or_nil,
        scopes: scopes.freeze,
        label: r[:label].to_s_or_nil,
        metadata: r[:metadata].null? ? "".b : r[:metadata].read_bytes(r[:metadata_len]),
        created_at: TimeUnits.time_of(r[:created_at]),
        expires_at: t.call(r[:has_expires_at], r[:expires_at]),
        idle_timeout: r[:has_idle_timeout] ? TimeUnits.seconds(r[:idle_timeout_ms]) : nil,
        max_lifetime: r[:has_max_lifetime] ? TimeUnits.seconds(r[:max_lifetime_ms]) : nil,
        last_used_at: t.call(r[:has_last_used_at], r[:last_used_at]),
        deadline: t.call(r[:has_deadline], r[:deadline]),
        uses: r[:uses],
        max_uses: r[:has_max_uses] ? r[:max_uses] : nil,
        parent: r[:has_parent] ? Native.id_of(r[:parent]) : nil,
        family: r[:has_family] ? Native.id_of(r[:family]) : nil,
        successor: r[:has_successor] ? Native.id_of(r[:successor]) : nil,
        replaced_at: t.call(r[:has_successor], r[:replaced_at]),
        grace_until: t.call(r[:has_successor], r[:grace_until]),
        replacement: Tessera.name_of(REPLACEMENTS, r[:replacement]),
        revoked: r[:revoked],
        revoked_at: t.call(r[:revoked], r[:revoked_at]),
        revoke_reason: Tessera.name_of(REVOKE_REASONS, r[:revoke_reason])
      ).freeze
    end

    # Reads the record an out-pointer points to, then frees it.
    def self.take(out)
      ptr = out.read_pointer
      begin
        from_native(Native::Record.new(ptr))
      ensure
        Native.tessera_free(ptr)
      end
    end

    # Reads the record list an out-pointer points to, then frees it (records and all).
    def self.take_list(out)
      ptr = out.read_pointer
      begin
        list = Native::RecordList.new(ptr)
        Array.new(list[:len]) { |i| from_native(Native::Record.new(list[:records] + (i * Native::Record.size))) }
      ensure
        Native.tessera_free(ptr)
      end
    end
  end

  # A token just issued: its text (the only copy of its secret) and its record; for a child,
  # whether its expiry was cut to its parent's. #inspect and #to_s never show the secret.
  class Issued
    attr_reader :token, :record

    def initialize(token, record, clamped: false)
      @token = token.freeze
      @record = record
      @clamped = clamped
      freeze
    end

    def id
      record.id
    end

    def clamped?
      @clamped
    end

    def inspect
      "#<Tessera::Issued id=#{id} kind=#{record.kind} token=[REDACTED]>"
    end
    alias to_s inspect

    # What pp and pretty_inspect print: #inspect, never the token.
    def pretty_print(pp)
      pp.text(inspect)
    end
  end

  # The answer of Store#verify: valid with a record, or the rejection (:expired, :revoked,
  # ...). #detail explains a rejection for logs: answer every rejection with the same 401,
  # except :scope_denied and :tenant_mismatch (a valid token, not allowed there): 403, as
  # Tessera::Rack::Authenticate does.
  class Outcome
    attr_reader :record, :rejection, :detail

    def initialize(record: nil, rejection: nil, detail: "")
      @record = record
      @rejection = rejection
      @detail = detail
      freeze
    end

    def valid?
      rejection.nil?
    end

    def inspect
      valid? ? "#<Tessera::Outcome valid id=#{record&.id}>" : "#<Tessera::Outcome #{rejection}: #{detail}>"
    end
  end

  # The answer of a renewal: the record as it is now; whether the maximum lifetime cut it.
  Renewal = Struct.new(:record, :capped, keyword_init: true) do
    def capped?
      capped
    end
  end

  # Counts of one group of tokens.
  Counts = Struct.new(:live, :expired, :revoked, keyword_init: true) do
    def self.from_native(c)
      new(live: c[:live], expired: c[:expired], revoked: c[:revoked]).freeze
    end
  end

  # What a store holds (Store#stats): counts overall, by kind and by tenant.
  Stats = Struct.new(:schema_version, :file_bytes, :all, :kinds, :tenants, :due_for_purge,
                     keyword_init: true) do
    def self.take(out)
      ptr = out.read_pointer
      begin
        s = Native::Stats.new(ptr)
        kinds = Array.new(s[:kinds_len]) { |i| Native::KindCounts.new(s[:kinds] + (i * Native::KindCounts.size)) }
        tenants = Array.new(s[:tenants_len]) do |i|
          Native::TenantCounts.new(s[:tenants] + (i * Native::TenantCounts.size))
        end
        new(
          schema_version: s[:schema_version], file_bytes: s[:file_bytes],
          all: Counts.from_native(s[:all]),
          kinds: kinds.to_h { |k| [Tessera.name_of(KINDS, k[:kind]), Counts.from_native(k[:counts])] },
          tenants: tenants.to_h { |t| [t[:tenant].to_s_or_nil || "", Counts.from_native(t[:counts])] },
          due_for_purge: s[:due_for_purge]
        ).freeze
      ensure
        Native.tessera_free(ptr)
      end
    end
  end

  # One audit event: what happened to which token (by id), never a secret.
  Event = Struct.new(:seq, :at, :kind, :token, :reason, :scope, :count, keyword_init: true) do
    def self.take_list(out)
      ptr = out.read_pointer
      begin
        list = Native::EventList.new(ptr)
        Array.new(list[:len]) do |i|
          e = Native::Event.new(list[:events] + (i * Native::Event.size))
          new(
            seq: e[:seq], at: TimeUnits.time_of(e[:at]), kind: Tessera.name_of(EVENT_KINDS, e[:kind]),
            token: e[:has_token] ? Native.id_of(e[:token]) : nil,
            reason: Tessera.name_of(REVOKE_REASONS, e[:reason]),
            scope: e[:scope].to_s_or_nil, count: e[:count]
          ).freeze
        end
      ensure
        Native.tessera_free(ptr)
      end
    end
  end
end
