# frozen_string_literal: true

require_relative "lib/tessera/version"

Gem::Specification.new do |spec|
  spec.name = "tessera"
  spec.version = Tessera::VERSION
  spec.summary = "An embeddable token store: issue, verify, expire and revoke session tokens and API keys"
  spec.description = "Ruby binding of libtessera (over its C ABI, with the ffi gem), with a Rack " \
                     "middleware that authenticates requests by tessera tokens."
  spec.license = "MIT OR Apache-2.0"
  spec.authors = ["tessera maintainers"]
  spec.required_ruby_version = ">= 2.7"
  # The library is built by `rake build_library` (cargo build -p tessera-ffi) into lib/ before
  # `gem build`; it is part of the gem when present.
  spec.files = Dir["lib/**/*.rb"] + Dir["lib/libtessera.{so,dylib}"] + %w[README.md tessera.gemspec Rakefile]
  spec.require_paths = ["lib"]
  spec.add_dependency "ffi", ">= 1.12"
  spec.add_development_dependency "minitest", ">= 5"
  spec.add_development_dependency "rack", ">= 2"
  spec.add_development_dependency "rack-test", ">= 1"
end
