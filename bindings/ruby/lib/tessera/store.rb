# frozen_string_literal: true

module Tessera
  # Arguments for the C ABI: shared by Store (as private methods) and the Rack middleware,
  # which checks its static requirements once, when it is built.
  module Arguments
    module_function

    # Text for the C ABI: UTF-8 bytes (invalid UTF-8 reaches the library, which refuses it,
    # except for a token presented by a client, which is simply malformed).
    def text(value, what, client: false)
      value = value.to_s if value.is_a?(Symbol)
      raise TypeError, "#{what} must be a String, not #{value.class}" unless value.is_a?(String)

      s = client || value.encoding == Encoding::BINARY ? value : value.encode(Encoding::UTF_8)
      s.b
    end

    # The String path of a file (of +of+: the store, a backup): a String, or what responds to
    # to_path (a Pathname).
    # nil is refused (ArgumentError), never taken for memory: a store in memory is
    # Store.in_memory. Anything else is refused too (TypeError: false is no file name).
    def file_path(path, of: "the store")
      if path.nil?
        hint = of == "the store" ? " (a store in memory is Tessera::Store.in_memory)" : ""
        raise ArgumentError, "the path of #{of} is nil: give its file#{hint}"
      end

      s = path.respond_to?(:to_path) ? path.to_path : path
      raise TypeError, "the path must be a String or respond to to_path, not #{path.class}" unless s.is_a?(String)

      s
    end

    def scope_list(scopes)
      raise TypeError, "scopes must be an Array of Strings, not one String" if scopes.is_a?(String)

      Array(scopes).map { |s| text(s, "scope") }
    end

    # Builds the C requirements of +tenant+ and +scopes+ (already through scope_list) for the
    # block. Raises InvalidArgument for requirements no token can meet (an empty scope, one
    # with whitespace or a control character, a name over 255 bytes).
    def with_requirements(tenant, scopes)
      out = FFI::MemoryPointer.new(:pointer)
      Tessera.check(Native.tessera_requirements_new(out))
      reqs = FFI::AutoPointer.new(out.read_pointer, Native.method(:tessera_requirements_free))
      begin
        Tessera.check(Native.tessera_requirements_set_tenant(reqs, *Native.buf(text(tenant, "tenant")))) unless tenant.nil?
        scopes.each { |s| Tessera.check(Native.tessera_requirements_add_scope(reqs, *Native.buf(s))) }
        yield reqs
      ensure
        reqs.free
      end
    end

    # Raises InvalidArgument if no token can meet these requirements: what every verify with
    # them would raise.
    def check_requirements(tenant, scopes)
      with_requirements(tenant, scope_list(scopes)) { nil }
    end

    # Whether some token could meet these requirements (check_requirements, as a question).
    def meetable?(tenant, scopes)
      check_requirements(tenant, scopes)
      true
    rescue InvalidArgument
      false
    end
  end

  # A tessera store: one file (or, with Store.in_memory only, memory), shared by every thread of
  # the process.
  #
  #   Tessera::Store.open("tokens.redb", session_ttl: 3600) do |store|
  #     login = store.issue_session("alice", tenant: "acme")
  #     store.verify(login.token).valid?   # => true
  #   end
  #
  # Options are keyword arguments, every one optional (left out: the library's default).
  # Durations are seconds (Numeric) or :never, rounded to the nearest millisecond (half up); a
  # positive one under half a millisecond raises Tessera::InvalidArgument (durations are
  # counted in whole milliseconds), as does a negative one. A closed store raises
  # Tessera::ClosedError. In a process started by fork (Puma, Unicorn workers), a store opened
  # before the fork raises Tessera::ForkedChild: open it in each worker, with
  # concurrency: :multi_process to share the file between processes.
  class Store
    include Arguments

    OPTION_DURATIONS = {
      session_ttl: :tessera_options_set_session_ttl,
      session_idle_timeout: :tessera_options_set_session_idle_timeout,
      session_max_lifetime: :tessera_options_set_session_max_lifetime,
      api_key_ttl: :tessera_options_set_api_key_ttl,
      flush_interval: :tessera_options_set_flush_interval,
      sweep_interval: :tessera_options_set_sweep_interval,
      revoked_retention: :tessera_options_set_revoked_retention,
      rotation_grace: :tessera_options_set_rotation_grace
    }.freeze
    OPTION_SIZES = {
      cache_size: :tessera_options_set_cache_size,
      purge_batch: :tessera_options_set_purge_batch,
      max_metadata_len: :tessera_options_set_max_metadata_len,
      event_retention: :tessera_options_set_event_retention
    }.freeze
    OPTIONS = (OPTION_DURATIONS.keys + OPTION_SIZES.keys +
               %i[durability concurrency session_prefix api_key_prefix pepper clock subject_caps]).freeze

    # The path Store.in_memory passes: no file at all. A nil path is refused, never taken for
    # memory (a path from an unset environment variable would give each worker a store of its
    # own, lost on restart).
    IN_MEMORY = Object.new.freeze
    private_constant :IN_MEMORY

    class << self
      # Opens (or creates) the store in the file at +path+ (a String, or what responds to
      # to_path: a Pathname; nil raises ArgumentError: a store in memory is Store.in_memory).
      # With a block, yields the store and closes it when the block ends, returning the block's
      # value. If the block raises, that exception propagates even if closing fails too.
      def open(path, **options)
        store = new(path, **options)
        return store unless block_given?

        begin
          yield store
        rescue Exception # rubocop:disable Lint/RescueException
          # The block's exception is the one to see: an error of closing (which closes the store
          # anyway) must not replace it.
          begin
            store.close
          rescue StandardError
            nil
          end
          raise
        ensure
          store.close # closed already if the block raised
        end
      end

      # A store in memory only (tests, caches), with the same options and block form: the only
      # way to open one. Each process has its own, so concurrency: :multi_process raises
      # Tessera::InvalidArgument.
      def in_memory(**options, &block)
        open(IN_MEMORY, **options, &block)
      end

      # A callable that opens the store at +path+ on its first call in each process, and
      # returns that process's store afterwards: what a pre-forking server (Puma cluster,
      # Unicorn) needs, since a store opened before fork() answers Tessera::ForkedChild in the
      # workers. Give it to Tessera::Rack::Authenticate as store:, and call it in the app.
      #
      #   STORE = Tessera::Store.per_process("tokens.redb", concurrency: :multi_process)
      #   STORE.call.issue_session("alice")
      #
      # The path is checked at once (nil raises ArgumentError here, not in each worker).
      def per_process(path, **options)
        PerProcess.new(Arguments.file_path(path), options)
      end
    end

    # See Store.per_process.
    class PerProcess
      def initialize(path, options)
        @path = path
        @options = options
        @lock = Mutex.new
        @store = nil
        @pid = nil
      end

      # Never shows the options: they may hold a pepper.
      def inspect
        "#<Tessera::Store::PerProcess #{@path.inspect}>"
      end
      alias to_s inspect

      # What pp and pretty_inspect print: #inspect.
      def pretty_print(pp)
        pp.text(inspect)
      end

      # This process's store, opened on the first call in the process.
      def call
        @lock.synchronize do
          if @pid != Process.pid
            @store = Store.open(@path, **@options)
            @pid = Process.pid
          end
          @store
        end
      end
    end

    # The path the store was opened with, a String (nil in memory).
    attr_reader :path

    # As Store.open without a block: +path+ must name a file (nil raises ArgumentError).
    def initialize(path, **options)
      unknown = options.keys - OPTIONS
      raise ArgumentError, "unknown option#{"s" if unknown.size > 1}: #{unknown.join(", ")}" unless unknown.empty?

      @path = path.equal?(IN_MEMORY) ? nil : file_path(path)
      @closed = true
      @clock = options[:clock] # keeps the Ruby object alive with the store (not required)
      @lock = Mutex.new
      opts = new_options(options)
      begin
        out = FFI::MemoryPointer.new(:pointer)
        if @path.nil?
          Tessera.check(Native.tessera_store_open_in_memory(opts, out))
        else
          Tessera.check(Native.tessera_store_open(*Native.buf(@path.b), opts, out))
        end
      ensure
        opts.free
      end
      @handle = FFI::AutoPointer.new(out.read_pointer, Native.method(:tessera_store_free))
      @closed = false
    end

    def closed?
      @closed
    end

    # Closes the store: waits for calls in flight on other threads, writes pending uses and
    # closes the file (if no other handle in the process has it open), raising any error of
    # doing so. Closing twice is harmless; in a forked child, closing an inherited store only
    # forgets it (the parent's file is never touched).
    def close
      @lock.synchronize do
        return nil if @closed

        @closed = true
        # The handle itself is released when this object is garbage collected (AutoPointer):
        # a thread that is just entering a call then gets ClosedError, never a freed handle.
        status = Native.tessera_store_close(@handle)
        unless [0, STATUSES[:forked_child], STATUSES[:closed]].include?(status)
          raise Tessera.error_for(status, Native.last_error_message)
        end
      end
      nil
    end

    def inspect
      "#<Tessera::Store #{path ? path.inspect : "in memory"}#{" closed" if @closed}>"
    end

    # --- issue ---------------------------------------------------------------------------

    # Issues a login session of +subject+ (the user id). Raises Tessera::LimitReached when a
    # per-subject cap refuses it.
    def issue_session(subject, **fields)
      with_request(:session, subject: subject, **fields) do |req|
        hand_over { |buf, n, rec| Native.tessera_issue(h, req, buf, Native::TOKEN_BUF_LEN, n, rec) }
      end
    end

    # Issues an API key owned by +tenant+ (optionally by the user subject:). It never expires
    # unless ttl: (or the store's api_key_ttl) says so.
    def issue_api_key(tenant, **fields)
      with_request(:api_key, tenant: tenant, **fields) do |req|
        hand_over { |buf, n, rec| Native.tessera_issue(h, req, buf, Native::TOKEN_BUF_LEN, n, rec) }
      end
    end

    # Issues a child of the valid token +parent+ (its text): a session of subject: or, with
    # kind: :api_key, an API key of tenant:. The child never outlives its parent
    # (Issued#clamped? says whether its expiry was cut to the parent's) and dies with it.
    def issue_child(parent, kind: :session, **fields)
      child_of(:tessera_issue_child, text(parent, "parent"), kind, fields)
    end

    # As issue_child, naming the parent by its id (Tessera::NotFound if no token has it).
    def issue_child_by_id(parent_id, kind: :session, **fields)
      child_of(:tessera_issue_child_by_id, text(parent_id, "parent_id"), kind, fields)
    end

    # Rotates a valid token: issues its successor in the same family. The old token works for
    # the store's rotation_grace (a retry inside it returns the same successor); presenting it
    # later revokes the whole family (Tessera::ReuseDetected).
    def rotate(token)
      t = text(token, "token")
      hand_over { |buf, n, rec| Native.tessera_rotate(h, *Native.buf(t), buf, Native::TOKEN_BUF_LEN, n, rec) }
    end

    # Rolls an API key (its text): a new key with the same tenant, subject, scopes and label,
    # whose lifetime starts now (it expires as long after the roll as the old key did after its
    # issue, renewals included, within the old key's maximum lifetime counted from the roll);
    # the old one keeps working for +grace+ seconds, then expires.
    def roll(key, grace:)
      k = text(key, "key")
      ms = TimeUnits.duration_ms(grace, "grace")
      hand_over { |buf, n, rec| Native.tessera_roll(h, *Native.buf(k), ms, buf, Native::TOKEN_BUF_LEN, n, rec) }
    end

    # As roll, naming the key by its id.
    def roll_by_id(key_id, grace:)
      k = text(key_id, "key_id")
      ms = TimeUnits.duration_ms(grace, "grace")
      hand_over do |buf, n, rec|
        Native.tessera_roll_by_id(h, *Native.buf(k), ms, buf, Native::TOKEN_BUF_LEN, n, rec)
      end
    end

    # --- verify --------------------------------------------------------------------------

    # Verifies a token text as the client presented it, optionally requiring a tenant and
    # scopes. Never raises for an invalid token: the Outcome is valid (with the record) or
    # says why not (:malformed, :expired, :revoked, ...); nil, no token at all, is :malformed
    # (pass a missing header straight in). Raises for faults, and Tessera::InvalidArgument for
    # requirements no token can meet (an empty scope, one with whitespace or a control
    # character, a name over 255 bytes).
    def verify(token, tenant: nil, scopes: [])
      t = token.nil? ? "".b : text(token, "token", client: true)
      scopes = scope_list(scopes)
      out = FFI::MemoryPointer.new(:pointer)
      status =
        if tenant.nil? && scopes.empty?
          Native.tessera_verify(h, *Native.buf(t), out)
        else
          with_requirements(tenant, scopes) do |reqs|
            Native.tessera_verify_with(h, *Native.buf(t), reqs, out)
          end
        end
      return Outcome.new(record: Record.take(out)) if status.zero?

      rejection = REJECTIONS[status]
      Tessera.check(status) if rejection.nil?
      Outcome.new(rejection: rejection, detail: Native.last_error_message)
    end

    # --- renew ---------------------------------------------------------------------------

    # Renews a live token presented by its text: its expiry becomes now + extend_by seconds,
    # never past its maximum lifetime. Raises a Tessera::Rejected subclass if it is not valid.
    def renew(token, extend_by:)
      renewal(:tessera_renew, text(token, "token", client: true), extend_by)
    end

    # As renew, naming the token by its id (Tessera::NotFound if none).
    def renew_by_id(token_id, extend_by:)
      renewal(:tessera_renew_by_id, text(token_id, "token_id"), extend_by)
    end

    # --- revoke --------------------------------------------------------------------------

    # Revokes the token presented by its text (a logout). Durable when it returns: every verify
    # that starts afterwards answers :revoked. Its descendants and, for a rotated session, its
    # other generations are revoked with it. Returns how many tokens were revoked (0 if it
    # already was). Raises
    # Malformed, UnknownToken or BadSecret when the text names no token of this store.
    def revoke(token)
      count(:tessera_revoke, *Native.buf(text(token, "token", client: true)))
    end

    # Revokes the token with this id (an administrative action); Tessera::NotFound if none.
    def revoke_by_id(token_id)
      count(:tessera_revoke_by_id, *Native.buf(text(token_id, "token_id")))
    end

    # Revokes every token of +subject+ not revoked yet, in every tenant and of both kinds, with
    # their descendants, except except_id: ("log out my other devices"). Returns how many,
    # counting tokens past a deadline and not purged yet.
    # An empty except_id is not nil: it is not an id (Tessera::InvalidArgument).
    def revoke_subject(subject, except_id: nil)
      except = Native.optional_buf(except_id.nil? ? nil : text(except_id, "except_id"))
      count(:tessera_revoke_subject, *Native.buf(text(subject, "subject")), *except)
    end

    # Revokes every token of +tenant+ not revoked yet, with their descendants. Returns how many,
    # counting tokens past a deadline and not purged yet.
    def revoke_tenant(tenant)
      count(:tessera_revoke_tenant, *Native.buf(text(tenant, "tenant")))
    end

    # Revokes every token issued strictly before +time+ (a Time, floored to the millisecond as
    # the store's clock counts, or Unix milliseconds): of tenant: ("" is the default tenant), of
    # subject: (every tenant), or of the whole store when neither is given (a rotated session
    # counts as issued when its first generation was). A future instant also revokes the tokens
    # issued until then; one more than a day past the store's clock raises InvalidArgument
    # (cutoffs never go back: a time in microseconds would revoke every token for ever), and so
    # does one before 2000 while the store's clock is past it (Unix seconds, Time.now.to_i, read
    # as milliseconds are in January 1970: nothing would be revoked).
    def revoke_issued_before(time, tenant: nil, subject: nil)
      # nil is "not given"; anything else (false too) must be a name.
      raise ArgumentError, "give tenant: or subject:, not both" unless tenant.nil? || subject.nil?

      scope, name = if !tenant.nil? then [:tenant, text(tenant, "tenant")]
                    elsif !subject.nil? then [:subject, text(subject, "subject")]
                    else [:store, nil]
                    end
      Tessera.check(Native.tessera_revoke_issued_before(h, REVOKE_SCOPES.fetch(scope), *Native.optional_buf(name),
                                                        TimeUnits.instant_ms(time, "time")))
      nil
    end

    # --- read ----------------------------------------------------------------------------

    # The record of the token with this id, whatever its state, or nil if none is stored.
    def get(token_id)
      out = FFI::MemoryPointer.new(:pointer)
      status = Native.tessera_get(h, *Native.buf(text(token_id, "token_id")), out)
      return nil if status == STATUSES[:not_found]

      Tessera.check(status)
      Record.take(out)
    end

    # The live tokens of +subject+ (every tenant), oldest first: a "your devices" page.
    def list_subject(subject)
      list(:tessera_list_subject, *Native.buf(text(subject, "subject")))
    end

    # The live tokens of +tenant+, of one kind: (:session, :api_key) or every kind.
    def list_tenant(tenant, kind: nil)
      k = kind.nil? ? Native::ANY_KIND : KINDS.fetch(kind) { raise ArgumentError, "unknown kind #{kind.inspect}" }
      list(:tessera_list_tenant, *Native.buf(text(tenant, "tenant")), k)
    end

    # The live API keys of +tenant+, oldest first.
    def list_api_keys(tenant)
      list(:tessera_list_api_keys, *Native.buf(text(tenant, "tenant")))
    end

    # The tokens derived from the token +parent_id+, whatever their state, oldest first.
    def children(parent_id)
      list(:tessera_children, *Native.buf(text(parent_id, "parent_id")))
    end

    # The audit feed: at most +limit+ events after the cursor +since+ (0: the oldest kept).
    def events(since: 0, limit: 1000)
      since = Native.uint64(since, "since")
      limit = Native.size_t(limit, "limit")
      out = FFI::MemoryPointer.new(:pointer)
      Tessera.check(Native.tessera_events(h, since, limit, out))
      Event.take_list(out)
    end

    # --- maintenance ---------------------------------------------------------------------

    # Removes one bounded batch of expired tokens: [removed, more_due].
    def purge_batch
      removed = FFI::MemoryPointer.new(:size_t)
      more = FFI::MemoryPointer.new(:bool)
      Tessera.check(Native.tessera_purge_batch(h, removed, more))
      [removed.read(:size_t), more.read(:bool)]
    end

    # Removes every expired token, batch by batch; returns how many.
    def purge_expired
      out = FFI::MemoryPointer.new(:size_t)
      Tessera.check(Native.tessera_purge_expired(h, out))
      out.read(:size_t)
    end

    # Writes every use recorded by verify (last_used_at, idle extensions) now.
    def flush
      Tessera.check(Native.tessera_flush(h))
      nil
    end

    # Counts of the stored tokens by kind, tenant and state (reads every row).
    def stats
      out = FFI::MemoryPointer.new(:pointer)
      Tessera.check(Native.tessera_store_stats(h, out))
      Stats.take(out)
    end

    # How many writes this process has made on this store (a batch that changed nothing is not
    # counted).
    def commits
      out = FFI::MemoryPointer.new(:uint64)
      Tessera.check(Native.tessera_commits(h, out))
      out.read_uint64
    end

    # The current time by the store's clock.
    def now
      out = FFI::MemoryPointer.new(:int64)
      Tessera.check(Native.tessera_now(h, out))
      TimeUnits.time_of(out.read_int64)
    end

    # The last error of the store's background thread since the last call, or nil.
    def background_error
      out = FFI::MemoryPointer.new(:int32)
      Tessera.check(Native.tessera_background_error(h, out))
      status = out.read_int32
      status.zero? ? nil : Tessera.error_for(status, Native.last_error_message)
    end

    # Writes a consistent copy of the store to a new file; returns the tokens copied.
    def backup(path)
      out = FFI::MemoryPointer.new(:uint64)
      Tessera.check(Native.tessera_backup(h, *Native.buf(file_path(path, of: "the backup").b), out))
      out.read_uint64
    end

    # Rewrites half-empty tables into full pages and returns the free space to the file
    # system; whether anything changed. Holds writers while it runs (about 1 s per million
    # tokens).
    def compact
      flag(:tessera_compact)
    end

    # Checks every page's checksum: true if intact, false if damage was found and repaired.
    def check_integrity
      flag(:tessera_check_integrity)
    end

    private

    # The store handle, or ClosedError.
    def h
      raise ClosedError, "the store is closed" if @closed

      @handle
    end

    def new_options(options)
      out = FFI::MemoryPointer.new(:pointer)
      Tessera.check(Native.tessera_options_new(out))
      opts = FFI::AutoPointer.new(out.read_pointer, Native.method(:tessera_options_free))
      begin
        apply_options(opts, options)
      rescue StandardError
        opts.free
        raise
      end
      opts
    end

    def apply_options(opts, options)
      options.each do |key, value|
        next if value.nil?

        if OPTION_DURATIONS.key?(key)
          Tessera.check(Native.send(OPTION_DURATIONS[key], opts, TimeUnits.duration_ms(value, key.to_s)))
        elsif OPTION_SIZES.key?(key)
          Tessera.check(Native.send(OPTION_SIZES[key], opts, Native.size_t(value, key.to_s)))
        end
      end
      set_enum(opts, :tessera_options_set_durability, DURABILITIES, options[:durability], "durability")
      set_enum(opts, :tessera_options_set_concurrency, CONCURRENCIES, options[:concurrency], "concurrency")
      if options[:session_prefix] || options[:api_key_prefix]
        sp = text(options.fetch(:session_prefix, nil) || "tss", "session_prefix")
        ap = text(options.fetch(:api_key_prefix, nil) || "tsk", "api_key_prefix")
        Tessera.check(Native.tessera_options_set_prefixes(opts, *Native.buf(sp), *Native.buf(ap)))
      end
      if (pepper = options[:pepper])
        raise TypeError, "pepper must be a String of bytes" unless pepper.is_a?(String)

        # Passed from memory of our own, wiped once the library has taken its copy: a Ruby copy
        # (pepper.b) would stay in the heap, unwiped, until the garbage collector reused it.
        secret = FFI::MemoryPointer.new(:uint8, [pepper.bytesize, 1].max)
        begin
          secret.put_bytes(0, pepper)
          Tessera.check(Native.tessera_options_set_pepper(opts, secret, pepper.bytesize))
        ensure
          secret.clear
        end
      end
      unless (clock = options[:clock]).nil?
        raise TypeError, "clock must be a Tessera::Clock, not #{clock.class}" unless clock.is_a?(Clock)

        Tessera.check(Native.tessera_options_set_clock(opts, clock.to_native))
      end
      (options[:subject_caps] || {}).each do |kind, (max, policy)|
        Tessera.check(Native.tessera_options_set_subject_cap(
                        opts, KINDS.fetch(kind) { raise ArgumentError, "unknown kind #{kind.inspect}" },
                        Native.size_t(max, "the cap of subject_caps"),
                        CAP_POLICIES.fetch(policy) { raise ArgumentError, "unknown cap policy #{policy.inspect}" }
                      ))
      end
    end

    def set_enum(opts, fn, table, value, what)
      return if value.nil?

      number = table.fetch(value) { raise ArgumentError, "unknown #{what} #{value.inspect} (#{table.keys.join(", ")})" }
      Tessera.check(Native.send(fn, opts, number))
    end

    FIELDS = %i[subject tenant scopes label metadata ttl idle_timeout max_lifetime max_uses].freeze

    def with_request(kind, **fields)
      unknown = fields.keys - FIELDS
      raise ArgumentError, "unknown keyword#{"s" if unknown.size > 1}: #{unknown.join(", ")}" unless unknown.empty?

      out = FFI::MemoryPointer.new(:pointer)
      case kind
      when :session
        raise ArgumentError, "a session needs a subject" if fields[:subject].nil?

        Tessera.check(Native.tessera_request_new_session(*Native.buf(text(fields.delete(:subject), "subject")), out))
      when :api_key
        raise ArgumentError, "an API key needs a tenant" if fields[:tenant].nil?

        Tessera.check(Native.tessera_request_new_api_key(*Native.buf(text(fields.delete(:tenant), "tenant")), out))
      else
        raise ArgumentError, "unknown kind #{kind.inspect} (session, api_key)"
      end
      req = FFI::AutoPointer.new(out.read_pointer, Native.method(:tessera_request_free))
      begin
        fill_request(req, **fields)
        yield req
      ensure
        req.free
      end
    end

    def fill_request(req, subject: nil, tenant: nil, scopes: [], label: nil, metadata: nil, ttl: nil,
                     idle_timeout: nil, max_lifetime: nil, max_uses: nil)
      Tessera.check(Native.tessera_request_set_subject(req, *Native.buf(text(subject, "subject")))) unless subject.nil?
      Tessera.check(Native.tessera_request_set_tenant(req, *Native.buf(text(tenant, "tenant")))) unless tenant.nil?
      scope_list(scopes).each { |s| Tessera.check(Native.tessera_request_add_scope(req, *Native.buf(s))) }
      Tessera.check(Native.tessera_request_set_label(req, *Native.buf(text(label, "label")))) unless label.nil?
      unless metadata.nil?
        raise TypeError, "metadata must be a String of bytes" unless metadata.is_a?(String)

        Tessera.check(Native.tessera_request_set_metadata(req, *Native.buf(metadata.b)))
      end
      { ttl: [:tessera_request_set_ttl, ttl], idle_timeout: [:tessera_request_set_idle_timeout, idle_timeout],
        max_lifetime: [:tessera_request_set_max_lifetime, max_lifetime] }.each do |what, (fn, value)|
        Tessera.check(Native.send(fn, req, TimeUnits.duration_ms(value, what.to_s))) unless value.nil?
      end
      return if max_uses.nil?

      Tessera.check(Native.tessera_request_set_max_uses(req, Native.uint64(max_uses, "max_uses")))
    end

    # Runs a C call that writes a token text and a record; returns an Issued.
    def hand_over
      buf = FFI::MemoryPointer.new(:char, Native::TOKEN_BUF_LEN)
      n = FFI::MemoryPointer.new(:size_t)
      rec = FFI::MemoryPointer.new(:pointer)
      begin
        Tessera.check(yield(buf, n, rec))
        token = buf.read_bytes(n.read(:size_t)).force_encoding(Encoding::US_ASCII)
        Issued.new(token, Record.take(rec))
      ensure
        buf.clear
      end
    end

    def child_of(fn, parent, kind, fields)
      clamped = FFI::MemoryPointer.new(:bool)
      issued = with_request(kind, **fields) do |req|
        hand_over do |buf, n, rec|
          Native.send(fn, h, *Native.buf(parent), req, buf, Native::TOKEN_BUF_LEN, n, rec, clamped)
        end
      end
      Issued.new(issued.token, issued.record, clamped: clamped.read(:bool))
    end

    def renewal(fn, t, extend_by)
      rec = FFI::MemoryPointer.new(:pointer)
      capped = FFI::MemoryPointer.new(:bool)
      Tessera.check(Native.send(fn, h, *Native.buf(t), TimeUnits.duration_ms(extend_by, "extend_by"), rec, capped))
      Renewal.new(record: Record.take(rec), capped: capped.read(:bool)).freeze
    end

    def count(fn, *args)
      out = FFI::MemoryPointer.new(:size_t)
      Tessera.check(Native.send(fn, h, *args, out))
      out.read(:size_t)
    end

    def list(fn, *args)
      out = FFI::MemoryPointer.new(:pointer)
      Tessera.check(Native.send(fn, h, *args, out))
      Record.take_list(out)
    end

    def flag(fn)
      out = FFI::MemoryPointer.new(:bool)
      Tessera.check(Native.send(fn, h, out))
      out.read(:bool)
    end
  end
end
