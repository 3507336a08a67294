# frozen_string_literal: true

module Tessera
  # A clock that moves only when told to, for test suites: give it to a store
  # (Store.open(path, clock: clock)) and call #advance instead of sleeping. Thread-safe; a store
  # keeps using the clock after this object is garbage collected.
  #
  #   clock = Tessera::Clock.new(Time.utc(2030, 1, 1))
  #   clock.advance(1.5)   # seconds
  #   clock.now_ms         # => 1893456001500
  class Clock
    # A clock that reads +start+ (a Time, floored to the millisecond, or Integer Unix
    # milliseconds) until moved. A clock reads the years 1 to 9999: an instant outside them, or
    # an #advance or #set beyond them, raises Tessera::InvalidArgument.
    def initialize(start = Time.now)
      out = FFI::MemoryPointer.new(:pointer)
      Tessera.check(Native.tessera_clock_new(TimeUnits.instant_ms(start, "start"), out))
      @handle = FFI::AutoPointer.new(out.read_pointer, Native.method(:tessera_clock_free))
    end

    # Moves the clock forward by +seconds+ (rounded to the nearest millisecond, half up; a
    # positive duration under half a millisecond raises Tessera::InvalidArgument).
    def advance(seconds)
      Tessera.check(Native.tessera_clock_advance(@handle, TimeUnits.duration_ms(seconds, "seconds")))
      self
    end

    # Sets the clock to +time+ (a Time, floored to the millisecond, or Integer Unix
    # milliseconds), possibly backwards.
    def set(time)
      Tessera.check(Native.tessera_clock_set(@handle, TimeUnits.instant_ms(time, "time")))
      self
    end

    # The clock's time in Unix milliseconds.
    def now_ms
      out = FFI::MemoryPointer.new(:int64)
      Tessera.check(Native.tessera_clock_now(@handle, out))
      out.read_int64
    end

    # The clock's time, a UTC Time.
    def now
      TimeUnits.time_of(now_ms)
    end

    def inspect
      "#<Tessera::Clock #{now.iso8601(3)}>"
    end

    # The handle, for Store options.
    def to_native
      @handle
    end
  end
end
