# frozen_string_literal: true

module Tessera
  # A token found in an HTTP header (not yet checked against any store): #scheme (:token,
  # :bearer, :api_key, :bare) and #token, its text. A plain class rather than a Struct, whose
  # pretty_print (pp, IRB, pretty_inspect) and to_a / to_h would show the token: #inspect,
  # #to_s and #pretty_print all hide it.
  class Credential
    attr_reader :scheme, :token

    def initialize(scheme, token)
      @scheme = scheme
      @token = token
      freeze
    end

    def ==(other)
      other.is_a?(Credential) && scheme == other.scheme && token == other.token
    end
    alias eql? ==

    def hash
      [Credential, scheme, token].hash
    end

    def inspect
      "#<Tessera::Credential scheme=#{scheme} token=[REDACTED]>"
    end
    alias to_s inspect

    # What pp and pretty_inspect print: #inspect, never the token.
    def pretty_print(pp)
      pp.text(inspect)
    end
  end

  class << self
    # The credential in one request header named +name+ (case-insensitive): Authorization
    # (Token token=..., quoted or not; token ...; Bearer ...; ApiKey ... or Api-Key ...) or a
    # bare header (Auth-Token, X-Access-Token, X-Auth-Token, X-Api-Key). The library's one
    # parser decides, so every language accepts exactly the same headers. Raises a
    # Tessera::CredentialError subclass when there is none: answer 401.
    def parse_header(name, value)
      name = name.to_s.b
      value = value.to_s.b
      scheme = FFI::MemoryPointer.new(:uint32)
      offset = FFI::MemoryPointer.new(:size_t)
      len = FFI::MemoryPointer.new(:size_t)
      check(Native.tessera_parse_header(*Native.buf(name), *Native.buf(value), scheme, offset, len))
      found(value, scheme, offset, len)
    end

    # The credential in the value of an Authorization header (as parse_header).
    def parse_authorization(value)
      value = value.to_s.b
      scheme = FFI::MemoryPointer.new(:uint32)
      offset = FFI::MemoryPointer.new(:size_t)
      len = FFI::MemoryPointer.new(:size_t)
      check(Native.tessera_parse_authorization(*Native.buf(value), scheme, offset, len))
      found(value, scheme, offset, len)
    end

    private

    def found(value, scheme, offset, len)
      token = value.byteslice(offset.read(:size_t), len.read(:size_t)).force_encoding(Encoding::UTF_8)
      Credential.new(name_of(SCHEMES, scheme.read_uint32), token.freeze)
    end
  end
end
