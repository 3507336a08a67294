# frozen_string_literal: true

require "ffi"

module Tessera
  # The C ABI of libtessera (include/tessera.h), attached with the ffi gem. Private: use
  # Tessera::Store and friends.
  #
  # Every function of the header is attached here with its exact types
  # (test/header_test.rb checks this against the header). Byte and text inputs are
  # (pointer, length) pairs passed as :buffer_in, never read up to a NUL; the empty String is a
  # non-NULL pointer with length 0, and NULL is passed only for an absent optional input (nil).
  # The ffi gem passes a pointer into the Ruby String's own buffer, not a copy, and a blocking
  # call runs without the GVL: so callers pass a String made for the call (String#b gives a
  # fresh copy), which no other thread can change or free while the library reads it.
  # Integers are checked against their C type's range.
  #
  # Every function that takes a tessera_store* is attached with blocking: true: it may wait, for
  # another process's write lock or for the handle's lock while another thread closes the store
  # (even tessera_now and tessera_commits take it), and the ffi gem then releases the GVL so
  # other Ruby threads run meanwhile.
  #
  # The library is loaded from ENV["TESSERA_LIB"], else from the copy inside the gem
  # (lib/libtessera.so, put there by `rake build_library`). A library whose ABI version is not
  # ABI_VERSION is refused with a LoadError.
  module Native
    extend FFI::Library

    # The ABI version this binding was written for (TESSERA_ABI_VERSION in the header).
    ABI_VERSION = 1

    MAX_TOKEN_LEN = 105
    TOKEN_BUF_LEN = 106
    ID_LEN = 22
    ID_BUF_LEN = 23
    MAX_PREFIX_LEN = 32
    MAX_NAME_LEN = 255
    MAX_SCOPES = 64
    MAX_CREDENTIAL_LEN = 4096
    MAX_INPUT_LEN = 1_048_576
    DEFAULT_CACHE_SIZE = 33_554_432
    SCHEMA_VERSION = 2
    DURATION_NONE = -1
    ANY_KIND = 0

    LIBRARY_NAME = FFI::Platform.mac? ? "libtessera.dylib" : "libtessera.so"

    # Where the library is looked for: TESSERA_LIB, else the gem's own copy.
    def self.library_path
      env = ENV["TESSERA_LIB"]
      return env if env && !env.empty?

      File.expand_path("../#{LIBRARY_NAME}", __dir__)
    end

    LIBRARY_PATH = library_path
    unless File.exist?(LIBRARY_PATH)
      raise LoadError, "tessera: no libtessera at #{LIBRARY_PATH}: build it with `rake build_library` " \
                       "in bindings/ruby (cargo build -p tessera-ffi), or set TESSERA_LIB"
    end
    begin
      ffi_lib LIBRARY_PATH
    rescue LoadError => e
      raise LoadError, "tessera: cannot load #{LIBRARY_PATH}: #{e.message}"
    end

    attach_function :tessera_abi_version, [], :uint32
    found = tessera_abi_version
    if found != ABI_VERSION
      raise LoadError, "tessera: #{LIBRARY_PATH} has ABI version #{found}, this binding needs " \
                       "#{ABI_VERSION}; install a matching libtessera (or unset TESSERA_LIB)"
    end

    typedef :int32, :status
    typedef :pointer, :store      # tessera_store*, a number checked by the library
    typedef :pointer, :options
    typedef :pointer, :request
    typedef :pointer, :requirements
    typedef :pointer, :clock
    typedef :pointer, :out        # an out-pointer (FFI::MemoryPointer)

    # tessera_str
    class Str < FFI::Struct
      layout :ptr, :pointer, :len, :size_t

      # The text, or nil when absent (ptr NULL).
      def to_s_or_nil
        self[:ptr].null? ? nil : self[:ptr].read_bytes(self[:len]).force_encoding(Encoding::UTF_8)
      end
    end

    # tessera_record
    class Record < FFI::Struct
      layout :id, [:char, ID_BUF_LEN],
             :kind, :uint32,
             :tenant, Str,
             :subject, Str,
             :scopes, :pointer,
             :scopes_len, :size_t,
             :label, Str,
             :metadata, :pointer,
             :metadata_len, :size_t,
             :created_at, :int64,
             :has_expires_at, :bool,
             :expires_at, :int64,
             :has_idle_timeout, :bool,
             :idle_timeout_ms, :int64,
             :has_max_lifetime, :bool,
             :max_lifetime_ms, :int64,
             :has_last_used_at, :bool,
             :last_used_at, :int64,
             :has_deadline, :bool,
             :deadline, :int64,
             :uses, :uint64,
             :has_max_uses, :bool,
             :max_uses, :uint64,
             :has_parent, :bool,
             :parent, [:char, ID_BUF_LEN],
             :has_family, :bool,
             :family, [:char, ID_BUF_LEN],
             :has_successor, :bool,
             :successor, [:char, ID_BUF_LEN],
             :replaced_at, :int64,
             :grace_until, :int64,
             :replacement, :uint32,
             :revoked, :bool,
             :revoked_at, :int64,
             :revoke_reason, :uint32
    end

    # tessera_record_list
    class RecordList < FFI::Struct
      layout :records, :pointer, :len, :size_t
    end

    # tessera_counts
    class Counts < FFI::Struct
      layout :live, :uint64, :expired, :uint64, :revoked, :uint64
    end

    # tessera_kind_counts
    class KindCounts < FFI::Struct
      layout :kind, :uint32, :counts, Counts
    end

    # tessera_tenant_counts
    class TenantCounts < FFI::Struct
      layout :tenant, Str, :counts, Counts
    end

    # tessera_stats
    class Stats < FFI::Struct
      layout :schema_version, :uint32,
             :file_bytes, :uint64,
             :all, Counts,
             :kinds, :pointer,
             :kinds_len, :size_t,
             :tenants, :pointer,
             :tenants_len, :size_t,
             :due_for_purge, :uint64
    end

    # tessera_event
    class Event < FFI::Struct
      layout :seq, :uint64,
             :at, :int64,
             :kind, :uint32,
             :has_token, :bool,
             :token, [:char, ID_BUF_LEN],
             :reason, :uint32,
             :scope, Str,
             :count, :uint64
    end

    # tessera_event_list
    class EventList < FFI::Struct
      layout :events, :pointer, :len, :size_t
    end

    # C struct name => FFI struct (checked field by field against the header by the tests).
    STRUCTS = {
      "tessera_str" => Str, "tessera_record" => Record, "tessera_record_list" => RecordList,
      "tessera_counts" => Counts, "tessera_kind_counts" => KindCounts,
      "tessera_tenant_counts" => TenantCounts, "tessera_stats" => Stats,
      "tessera_event" => Event, "tessera_event_list" => EventList
    }.freeze

    T = :buffer_in # const char * / const uint8_t * inputs, always followed by their length
    B = :buffer_out # char *token_buf

    # name => [argument types, return type, blocking]. One entry per function of the header.
    FUNCTIONS = {
      tessera_status_name: [[:int32], :string, false],
      tessera_last_error_message: [[], :string, false],
      tessera_version: [[], :string, false],
      tessera_abi_version: [[], :uint32, false],
      tessera_store_open: [[T, :size_t, :options, :out], :status, true],
      tessera_store_open_in_memory: [%i[options out], :status, true],
      tessera_store_close: [[:store], :status, true],
      tessera_store_free: [[:store], :void, true],
      tessera_issue: [[:store, :request, B, :size_t, :out, :out], :status, true],
      tessera_verify: [[:store, T, :size_t, :out], :status, true],
      tessera_verify_with: [[:store, T, :size_t, :requirements, :out], :status, true],
      tessera_renew: [[:store, T, :size_t, :int64, :out, :out], :status, true],
      tessera_renew_by_id: [[:store, T, :size_t, :int64, :out, :out], :status, true],
      tessera_revoke: [[:store, T, :size_t, :out], :status, true],
      tessera_revoke_by_id: [[:store, T, :size_t, :out], :status, true],
      tessera_revoke_subject: [[:store, T, :size_t, T, :size_t, :out], :status, true],
      tessera_revoke_tenant: [[:store, T, :size_t, :out], :status, true],
      tessera_get: [[:store, T, :size_t, :out], :status, true],
      tessera_list_subject: [[:store, T, :size_t, :out], :status, true],
      tessera_list_tenant: [[:store, T, :size_t, :uint32, :out], :status, true],
      tessera_list_api_keys: [[:store, T, :size_t, :out], :status, true],
      tessera_purge_batch: [%i[store out out], :status, true],
      tessera_purge_expired: [%i[store out], :status, true],
      tessera_flush: [[:store], :status, true],
      tessera_store_stats: [%i[store out], :status, true],
      tessera_commits: [%i[store out], :status, true],
      tessera_now: [%i[store out], :status, true],
      tessera_background_error: [%i[store out], :status, true],
      tessera_backup: [[:store, T, :size_t, :out], :status, true],
      tessera_compact: [%i[store out], :status, true],
      tessera_check_integrity: [%i[store out], :status, true],
      tessera_issue_child: [[:store, T, :size_t, :request, B, :size_t, :out, :out, :out], :status, true],
      tessera_issue_child_by_id: [[:store, T, :size_t, :request, B, :size_t, :out, :out, :out], :status, true],
      tessera_children: [[:store, T, :size_t, :out], :status, true],
      tessera_rotate: [[:store, T, :size_t, B, :size_t, :out, :out], :status, true],
      tessera_roll: [[:store, T, :size_t, :int64, B, :size_t, :out, :out], :status, true],
      tessera_roll_by_id: [[:store, T, :size_t, :int64, B, :size_t, :out, :out], :status, true],
      tessera_revoke_issued_before: [[:store, :uint32, T, :size_t, :int64], :status, true],
      tessera_events: [%i[store uint64 size_t out], :status, true],
      tessera_options_new: [[:out], :status, false],
      tessera_options_free: [[:options], :void, false],
      tessera_options_set_cache_size: [%i[options size_t], :status, false],
      tessera_options_set_durability: [%i[options uint32], :status, false],
      tessera_options_set_concurrency: [%i[options uint32], :status, false],
      tessera_options_set_prefixes: [[:options, T, :size_t, T, :size_t], :status, false],
      tessera_options_set_pepper: [[:options, T, :size_t], :status, false],
      tessera_options_set_clock: [%i[options clock], :status, false],
      tessera_options_set_session_ttl: [%i[options int64], :status, false],
      tessera_options_set_session_idle_timeout: [%i[options int64], :status, false],
      tessera_options_set_session_max_lifetime: [%i[options int64], :status, false],
      tessera_options_set_api_key_ttl: [%i[options int64], :status, false],
      tessera_options_set_flush_interval: [%i[options int64], :status, false],
      tessera_options_set_sweep_interval: [%i[options int64], :status, false],
      tessera_options_set_purge_batch: [%i[options size_t], :status, false],
      tessera_options_set_revoked_retention: [%i[options int64], :status, false],
      tessera_options_set_max_metadata_len: [%i[options size_t], :status, false],
      tessera_options_set_rotation_grace: [%i[options int64], :status, false],
      tessera_options_set_subject_cap: [%i[options uint32 size_t uint32], :status, false],
      tessera_options_set_event_retention: [%i[options size_t], :status, false],
      tessera_clock_new: [%i[int64 out], :status, false],
      tessera_clock_advance: [%i[clock int64], :status, false],
      tessera_clock_set: [%i[clock int64], :status, false],
      tessera_clock_now: [%i[clock out], :status, false],
      tessera_clock_free: [[:clock], :void, false],
      tessera_request_new_session: [[T, :size_t, :out], :status, false],
      tessera_request_new_api_key: [[T, :size_t, :out], :status, false],
      tessera_request_free: [[:request], :void, false],
      tessera_request_set_tenant: [[:request, T, :size_t], :status, false],
      tessera_request_set_subject: [[:request, T, :size_t], :status, false],
      tessera_request_add_scope: [[:request, T, :size_t], :status, false],
      tessera_request_set_label: [[:request, T, :size_t], :status, false],
      tessera_request_set_metadata: [[:request, T, :size_t], :status, false],
      tessera_request_set_ttl: [%i[request int64], :status, false],
      tessera_request_set_idle_timeout: [%i[request int64], :status, false],
      tessera_request_set_max_lifetime: [%i[request int64], :status, false],
      tessera_request_set_max_uses: [%i[request uint64], :status, false],
      tessera_requirements_new: [[:out], :status, false],
      tessera_requirements_set_tenant: [[:requirements, T, :size_t], :status, false],
      tessera_requirements_add_scope: [[:requirements, T, :size_t], :status, false],
      tessera_requirements_free: [[:requirements], :void, false],
      tessera_free: [[:pointer], :void, false],
      tessera_parse_header: [[T, :size_t, T, :size_t, :out, :out, :out], :status, false],
      tessera_parse_authorization: [[T, :size_t, :out, :out, :out], :status, false]
    }.freeze

    missing = []
    FUNCTIONS.each do |name, (args, ret, blocking)|
      attach_function name, args, ret, blocking: blocking
    rescue FFI::NotFoundError
      missing << name
    end
    raise LoadError, "tessera: the library lacks #{missing.join(", ")}" unless missing.empty?

    # The pointer passed for an empty input: not NULL, so that the library reads the empty text
    # rather than an absent optional input (NULL with length 0). Never read: its length is 0.
    EMPTY = FFI::MemoryPointer.new(:char, 1)

    # The ranges of the C ABI's integer types. The ffi gem wraps some integers outside them
    # silently (a negative :size_t becomes SIZE_MAX), so every integer argument is checked first.
    INT64_RANGE = (-(2**63))..((2**63) - 1)
    UINT32_RANGE = 0..((2**32) - 1)
    UINT64_RANGE = 0..((2**64) - 1)
    SIZE_RANGE = 0..((2**(8 * FFI.type_size(:size_t))) - 1)

    module_function

    # [buffer, length] for a (pointer, length) input. An empty String is [EMPTY, 0], the empty
    # text; see optional_buf for an input that may be absent.
    def buf(str)
      str = str.to_s
      str.empty? ? [EMPTY, 0] : [str, str.bytesize]
    end

    # As buf for an optional text input: nil is [nil, 0] (NULL with length 0: none), "" the
    # empty text.
    def optional_buf(str)
      str.nil? ? [nil, 0] : buf(str)
    end

    # +value+ if it is an Integer in +range+, the range of the C type +ctype+ it is passed as;
    # else Tessera::InvalidArgument (TypeError if it is no Integer).
    def integer(value, what, range, ctype)
      raise TypeError, "#{what} must be an Integer, not #{value.inspect}" unless value.is_a?(Integer)
      return value if range.cover?(value)

      raise InvalidArgument, "#{what} is #{value}; it must be in #{range.begin}..#{range.end} (a #{ctype})"
    end

    # A count or a size (size_t).
    def size_t(value, what)
      integer(value, what, SIZE_RANGE, "size_t")
    end

    # A uint64_t.
    def uint64(value, what)
      integer(value, what, UINT64_RANGE, "uint64_t")
    end

    # Milliseconds (int64_t).
    def int64(value, what)
      integer(value, what, INT64_RANGE, "int64_t of milliseconds")
    end

    # The calling native thread's last-error message ("" if none); see Tessera.check for why,
    # under the M:N thread scheduler, it may not be the last call's.
    def last_error_message
      (tessera_last_error_message || "").dup.force_encoding(Encoding::UTF_8)
    end

    # The id text of a char[TESSERA_ID_BUF_LEN] field.
    def id_of(chars)
      chars.to_s.force_encoding(Encoding::US_ASCII)
    end
  end
end
