# frozen_string_literal: true

require_relative "test_helper"
require "open3"

# The gem against include/tessera.h: every function attached with its exact types, every struct
# field at its C offset, every enum value and constant, the ABI version check.
class HeaderTest < Minitest::Test
  include TesseraTest

  def source
    File.read(HEADER).gsub(%r{/\*.*?\*/}m, "").gsub(%r{//[^\n]*}, "")
  end

  def norm(type)
    type.strip.gsub(/\s+/, " ").gsub(/\s*\*/, " *").gsub("* *", "**").strip
  end

  HANDLES = { "tessera_store" => :store, "tessera_options" => :options, "tessera_request" => :request,
              "tessera_requirements" => :requirements, "tessera_clock" => :clock }.freeze
  SCALARS = { "size_t" => :size_t, "int64_t" => :int64, "uint64_t" => :uint64, "uint32_t" => :uint32,
              "int32_t" => :int32, "tessera_status" => :status }.freeze

  def ffi_type(c, result: false)
    c = norm(c)
    return :void if c == "void"
    return (result ? :string : :buffer_in) if c == "const char *"
    return :buffer_out if c == "char *"
    return :buffer_in if c == "const uint8_t *"
    return :pointer if c == "void *"
    if (m = c.match(/\A(?:const )?struct (tessera_\w+) \*\z/)) && HANDLES[m[1]]
      return HANDLES[m[1]]
    end
    return :out if c.end_with?("*") # an output: size_t *, bool *, struct tessera_record **, ...
    return SCALARS.fetch(c) if SCALARS.key?(c)

    flunk "no mapping for C type #{c.inspect}"
  end

  def header_functions
    source.scan(/^([A-Za-z_][\w *]*?)\b(tessera_\w+)\(([^)]*)\);/m).to_h do |ret, name, params|
      args = params.strip == "void" || params.strip.empty? ? [] : params.split(",").map { |p| norm(p).sub(/\s*\b\w+\z/, "") }
      [name.to_sym, [ret, args]]
    end
  end

  def test_every_function_of_the_header_is_attached_with_its_exact_types
    functions = header_functions
    assert_operator functions.size, :>=, 80
    functions.each do |name, (ret, args)|
      assert Tessera::Native::FUNCTIONS.key?(name), "#{name} is in tessera.h but not in Native::FUNCTIONS"
      types, returns, = Tessera::Native::FUNCTIONS[name]
      assert_equal ffi_type(ret, result: true), returns, "#{name}: return type #{ret}"
      assert_equal args.map { |a| ffi_type(a) }, types, "#{name}: parameters #{args.inspect}"
      assert Tessera::Native.respond_to?(name), "#{name} not attached"
    end
    assert_empty Tessera::Native::FUNCTIONS.keys - functions.keys, "attached but not in the header"
  end

  # A function that takes a store handle may wait (for another process's write lock, for the
  # handle's lock while another thread closes it): without the GVL, so that other threads run.
  def test_every_function_that_takes_a_store_releases_the_gvl
    takes_store = header_functions.select { |_, (_, args)| args.any? { |a| ffi_type(a) == :store } }.keys
    assert_operator takes_store.size, :>=, 30
    assert_includes takes_store, :tessera_now
    not_blocking = takes_store.reject { |name| Tessera::Native::FUNCTIONS.fetch(name)[2] == true }
    assert_empty not_blocking, "attached with blocking: false"
  end

  def test_every_function_of_the_header_is_used_by_the_ruby_api
    files = Dir[File.expand_path("../lib/**/*.rb", __dir__)]
    sources = files.map { |f| File.read(f).sub(/FUNCTIONS = \{.*?\}\.freeze/m, "") }.join
    unused = Tessera::Native::FUNCTIONS.keys.reject { |n| sources.match?(/\b#{n}\b/) }
    assert_empty unused
  end

  def header_structs
    source.scan(/typedef struct (tessera_\w+) \{(.*?)\} \1;/m).to_h do |name, body|
      fields = body.split(";").map { |d| norm(d) }.reject(&:empty?).map do |d|
        m = d.match(/\A(.*?)\s*\b(\w+)(?:\[(\w+)\])?\z/)
        [m[1], m[2].to_sym, m[3]]
      end
      [name, fields]
    end
  end

  def test_every_struct_matches_the_header_field_by_field
    structs = header_structs
    assert_equal structs.keys.sort, Tessera::Native::STRUCTS.keys.sort
    structs.each do |cname, fields|
      layout = Tessera::Native::STRUCTS[cname].new.layout
      assert_equal fields.map { |f| f[1] }, layout.members, cname
      fields.each do |ctype, fname, length|
        field = layout[fname]
        assert_equal Tessera::Native.const_get(length.sub("TESSERA_", "")), field.type.length, "#{cname}.#{fname}" if length
        assert_equal 1, field.size, "#{cname}.#{fname} is a C bool" if ctype == "bool"
      end
    end
  end

  def test_struct_sizes_and_offsets_are_those_of_the_c_compiler
    skip "no C compiler (bindings/ruby/run-tests installs gcc)" unless TesseraTest.cc
    Dir.mktmpdir do |dir|
      lines = Tessera::Native::STRUCTS.flat_map do |cname, klass|
        [%(printf("#{cname} %zu\\n", sizeof(#{cname}));)] +
          klass.new.layout.members.map { |f| %(printf("#{cname}.#{f} %zu\\n", offsetof(#{cname}, #{f}));) }
      end
      File.write(File.join(dir, "layout.c"),
                 "#include <stdio.h>\n#include <stddef.h>\n#include \"tessera.h\"\nint main(void) {\n#{lines.join("\n")}\nreturn 0;\n}\n")
      _, err, st = Open3.capture3(TesseraTest.cc, "-std=c99", "-I", File.dirname(HEADER), "layout.c", "-o", "layout", chdir: dir)
      assert st.success?, err
      seen = `#{File.join(dir, "layout")}`.lines.to_h { |l| k, v = l.split; [k, Integer(v)] }
      Tessera::Native::STRUCTS.each do |cname, klass|
        assert_equal seen.fetch(cname), klass.size, "sizeof(#{cname})"
        klass.new.layout.members.each do |f|
          assert_equal seen.fetch("#{cname}.#{f}"), klass.offset_of(f), "#{cname}.#{f}"
        end
      end
    end
  end

  ENUMS = {
    "tessera_status" => [Tessera::STATUSES, "TESSERA_"],
    "tessera_kind" => [Tessera::KINDS, "TESSERA_KIND_"],
    "tessera_revoke_reason" => [Tessera::REVOKE_REASONS, "TESSERA_REVOKE_"],
    "tessera_scheme" => [Tessera::SCHEMES, "TESSERA_SCHEME_"],
    "tessera_durability" => [Tessera::DURABILITIES, "TESSERA_DURABILITY_"],
    "tessera_concurrency" => [Tessera::CONCURRENCIES, "TESSERA_CONCURRENCY_"],
    "tessera_replacement" => [Tessera::REPLACEMENTS, "TESSERA_REPLACEMENT_"],
    "tessera_event_kind" => [Tessera::EVENT_KINDS, "TESSERA_EVENT_"],
    "tessera_cap_policy" => [Tessera::CAP_POLICIES, "TESSERA_CAP_"],
    "tessera_revoke_scope" => [Tessera::REVOKE_SCOPES, "TESSERA_SCOPE_"]
  }.freeze

  def test_every_enum_of_the_header_has_the_same_values_in_ruby
    found = source.scan(/enum (tessera_\w+)\s*(?:#if.*?#endif[^\n]*)?\s*\{(.*?)\};/m)
    assert_equal ENUMS.keys.sort, found.map(&:first).sort
    found.each do |name, body|
      table, prefix = ENUMS.fetch(name)
      values = body.scan(/(TESSERA_\w+) = (-?\d+)/).to_h { |k, v| [k.delete_prefix(prefix).downcase.to_sym, Integer(v)] }
      assert_equal values, table, name
    end
  end

  def test_every_constant_of_the_header_is_the_gems
    defines = File.read(HEADER).scan(/#define TESSERA_(\w+) (-?\d+)/).to_h { |k, v| [k, Integer(v)] }
    defines.each do |name, value|
      next if name.start_with?("VERSION_")

      assert_equal value, Tessera::Native.const_get(name), name
    end
    assert_equal defines.values_at("VERSION_MAJOR", "VERSION_MINOR", "VERSION_PATCH").join("."), Tessera.library_version
  end

  def test_every_status_has_one_exception_class_named_as_the_library_names_it
    Tessera::STATUSES.each do |name, number|
      next if name == :ok

      klass = Tessera::ERRORS.fetch(number)
      assert_operator klass, :<, Tessera::Error
      assert_equal name.to_s, Tessera.status_name(number)
      assert_equal name, klass.new.status_name
      assert_equal number, klass.status
    end
    assert_equal Tessera::STATUSES.size - 1, Tessera::ERRORS.values.uniq.size
    assert_equal "unrecognized_status", Tessera.status_name(12_345)
  end

  def test_the_library_loaded_is_the_gems_own_copy_with_the_abi_it_expects
    assert_equal 1, Tessera.abi_version
    assert_equal Tessera::ABI_VERSION, Tessera.abi_version
    return if ENV["TESSERA_LIB"]

    assert_equal File.expand_path("../lib/#{Tessera::Native::LIBRARY_NAME}", __dir__), Tessera::Native::LIBRARY_PATH
  end

  def load_with(lib)
    Open3.capture3({ "TESSERA_LIB" => lib }, RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", "require 'tessera'")
  end

  def test_a_library_with_another_abi_version_is_refused
    skip "no C compiler (bindings/ruby/run-tests installs gcc)" unless TesseraTest.cc
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, "fake.c"), "#include <stdint.h>\nuint32_t tessera_abi_version(void) { return 99; }\n")
      _, err, st = Open3.capture3(TesseraTest.cc, "-shared", "-fPIC", "fake.c", "-o", "libfake.so", chdir: dir)
      assert st.success?, err
      _, err, st = load_with(File.join(dir, "libfake.so"))
      refute st.success?
      assert_match(/LoadError/, err)
      assert_match(/ABI version 99/, err)
    end
  end

  def test_a_missing_library_is_a_clear_load_error
    _, err, st = load_with("/nowhere/libtessera.so")
    refute st.success?
    assert_match(/no libtessera at/, err)
  end
end
