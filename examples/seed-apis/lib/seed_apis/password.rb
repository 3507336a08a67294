# frozen_string_literal: true

require "openssl"
require "securerandom"

module SeedApis
  # Salted, stretched password hashes for the accounts file: PBKDF2-HMAC-SHA256 with a random
  # 16-byte salt per account, written "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>".
  #
  # Enough for a demo that ships its accounts in a file; a real service would use a memory-hard
  # hash (argon2id) or bcrypt with a tuned cost, and rehash on login when the cost changes.
  # tessera itself never sees a password: the host checks it, then asks tessera for a token.
  module Password
    ALGORITHM = "pbkdf2-sha256"
    ITERATIONS = 20_000
    LENGTH = 32

    module_function

    def hash(password, iterations: ITERATIONS, salt: SecureRandom.bytes(16))
      digest = derive(password, salt, iterations)
      [ALGORITHM, iterations, salt.unpack1("H*"), digest.unpack1("H*")].join("$")
    end

    # Whether +password+ matches +stored+ (constant time). A nil +stored+ (no such account)
    # still costs one derivation, so "no such user" and "wrong password" take the same time.
    def match?(password, stored)
      algorithm, iterations, salt_hex, digest_hex = stored.to_s.split("$")
      unless algorithm == ALGORITHM && iterations.to_i.positive? && salt_hex && digest_hex
        derive(password.to_s, "\0" * 16, ITERATIONS)
        return false
      end
      expected = [digest_hex].pack("H*")
      actual = derive(password.to_s, [salt_hex].pack("H*"), iterations.to_i)
      expected.bytesize == actual.bytesize && OpenSSL.fixed_length_secure_compare(expected, actual)
    end

    def derive(password, salt, iterations)
      OpenSSL::KDF.pbkdf2_hmac(password.to_s.b, salt: salt, iterations: iterations, length: LENGTH,
                                                hash: "sha256")
    end
  end
end
