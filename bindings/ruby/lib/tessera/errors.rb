# frozen_string_literal: true

module Tessera
  # The statuses of the C ABI (tessera_status): name => stable number.
  STATUSES = {
    ok: 0, malformed: 1, unknown_token: 2, bad_secret: 3, expired: 4, idle: 5, revoked: 6,
    exhausted: 7, scope_denied: 8, tenant_mismatch: 9, reuse_detected: 10, not_found: 20,
    limit_reached: 21, credential_empty: 30, unsupported_header: 31, unknown_scheme: 32,
    missing_token: 33, unterminated_quote: 34, invalid_character: 35, credential_too_long: 36,
    null_argument: 100, invalid_argument: 101, invalid_utf8: 102, buffer_too_small: 103,
    invalid_handle: 104, closed: 105, forked_child: 106, not_a_store: 200, corrupt: 201,
    locked: 202, newer_schema: 203, pepper: 204, options_conflict: 205, disk_full: 206, io: 207,
    storage: 208, random: 209, internal: 300, panic: 301, poisoned: 302
  }.freeze

  # The base class of every error tessera raises. #status is the C ABI's number, #status_name
  # its stable name (:revoked); the message is the library's explanation, never a secret.
  class Error < StandardError
    class << self
      # The status this class stands for (nil for the base and group classes).
      attr_reader :status_name

      def status
        STATUSES[status_name]
      end

      private

      def stands_for(name)
        @status_name = name
      end
    end

    def initialize(message = nil, status: nil)
      @status = status
      super(message || self.class.status_name.to_s)
    end

    def status
      @status || self.class.status
    end

    def status_name
      self.class.status_name || STATUSES.key(@status) || :unrecognized_status
    end
  end

  # The token is not valid (statuses 1-10). Store#verify returns an Outcome for these instead
  # of raising; calls that need a valid token (revoke, renew, rotate...) raise them.
  class Rejected < Error; end
  # An HTTP header without a usable credential (statuses 30-36): answer 401.
  class CredentialError < Error; end
  # A mistake of the caller (statuses 100-106).
  class UsageError < Error; end
  # A problem with the store file or the system (statuses 200-209).
  class StoreError < Error; end
  # A fault of the library itself (statuses 300-302): please report it.
  class LibraryFault < Error; end

  # One class per status, under its group.
  {
    Rejected => %i[malformed unknown_token bad_secret expired idle revoked exhausted scope_denied
                   tenant_mismatch reuse_detected],
    Error => %i[not_found limit_reached],
    CredentialError => %i[credential_empty unsupported_header unknown_scheme missing_token
                          unterminated_quote invalid_character credential_too_long],
    UsageError => %i[null_argument invalid_argument invalid_utf8 buffer_too_small invalid_handle
                     closed forked_child],
    StoreError => %i[not_a_store corrupt locked newer_schema pepper options_conflict disk_full io
                     storage random],
    LibraryFault => %i[internal panic poisoned]
  }.each do |group, names|
    names.each do |name|
      class_name = {
        closed: "ClosedError", io: "IoError", pepper: "PepperMismatch", random: "RandomError",
        storage: "StorageError", internal: "InternalError", panic: "PanicError",
        poisoned: "PoisonedError"
      }.fetch(name) { name.to_s.split("_").map(&:capitalize).join }
      klass = Class.new(group)
      klass.send(:stands_for, name)
      const_set(class_name, klass)
    end
  end

  # Status number => exception class.
  ERRORS = constants.map { |c| const_get(c) }
                    .select { |c| c.is_a?(Class) && c < Error && c.status_name }
                    .to_h { |c| [c.status, c] }.freeze

  # The exception for a status other than OK.
  def self.error_for(status, message = nil)
    klass = ERRORS[status]
    klass ? klass.new(message) : Error.new(message || "unrecognized status #{status}", status: status)
  end

  # Raises the exception of +status+ (with the thread's last-error message) unless it is OK.
  #
  # The library keeps the last-error message per OS thread, and it is read here, in a second
  # call after the failing one returned. Under Ruby's M:N thread scheduler (RUBY_MN_THREADS=1)
  # a Ruby thread may move to another native thread between the two, so the message may then
  # be empty or another thread's. The status, and so the exception class and #status, comes
  # from the failing call itself and stays right; only the message may be wrong. The same
  # holds wherever a message is read after a call (Outcome#detail, Store#background_error).
  def self.check(status)
    return if status.zero?

    raise error_for(status, Native.last_error_message)
  end
end
