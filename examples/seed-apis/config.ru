# frozen_string_literal: true

# The five seed APIs on tessera (see README.md). Started by ./serve:
#   puma -p ${PORT:-9292} -w ${WORKERS:-2} config.ru
# Every Puma worker opens the store file itself, in multi-process mode, on its first request.
require_relative "lib/seed_apis"

SeedApis::Storage.prepare! # creates the store file once (serve has normally done it already)
run SeedApis.app
