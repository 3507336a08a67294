# frozen_string_literal: true

# tessera: an embeddable token store. This gem binds libtessera's C ABI with the ffi gem.
#
#   require "tessera"
#   Tessera::Store.open("tokens.redb") do |store|
#     login = store.issue_session("alice", tenant: "acme", ttl: 3600)
#     outcome = store.verify(login.token)
#     outcome.valid?            # => true
#     outcome.record.subject    # => "alice"
#     store.revoke(login.token)
#     store.verify(login.token).rejection  # => :revoked
#   end
#
# Errors are Tessera::Error subclasses, one per status of the C ABI; a rejected token is not an
# error for Store#verify, which returns a Tessera::Outcome. The Rack middleware is in
# "tessera/rack".
require "time" # Time#iso8601, which Ruby before 3.4 only has with it

module Tessera; end

require_relative "tessera/version"
require_relative "tessera/native"
require_relative "tessera/errors"
require_relative "tessera/time_units"
require_relative "tessera/records"
require_relative "tessera/clock"
require_relative "tessera/credentials"
require_relative "tessera/store"

module Tessera
  # The ABI version this gem needs (the library's is checked when the gem loads).
  ABI_VERSION = Native::ABI_VERSION

  class << self
    # The version of the loaded libtessera, e.g. "0.1.0".
    def library_version
      Native.tessera_version.dup
    end

    # The ABI version of the loaded libtessera (equal to ABI_VERSION).
    def abi_version
      Native.tessera_abi_version
    end

    # The stable name of a status number, e.g. "revoked".
    def status_name(status)
      Native.tessera_status_name(status).dup
    end
  end
end
