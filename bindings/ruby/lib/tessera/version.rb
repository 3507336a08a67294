# frozen_string_literal: true

module Tessera
  # The version of this gem (the library's is Tessera.library_version).
  VERSION = "0.1.0"
end
