# frozen_string_literal: true

module Tessera
  # Durations are seconds (any Numeric) or :never; instants are Time (or Integer Unix
  # milliseconds). These helpers convert them for the C ABI, the only place either is
  # converted, with the Python binding's rule: a duration is rounded to the nearest millisecond
  # (half up: 0.0015 s is 2 ms), and one that is positive but rounds to 0 ms (under half a
  # millisecond) or negative is refused; an instant is floored to the millisecond, as the
  # store's clock counts (a Time 0.9 ms into a millisecond is that millisecond).
  module TimeUnits
    module_function

    # Milliseconds (an int64_t) for a duration in seconds, rounded to the nearest millisecond
    # (half up); :never is TESSERA_DURATION_NONE (-1). A negative duration is refused before it
    # is rounded (-0.0004 s is not 0 ms), and so is a positive one that rounds to 0 ms
    # (0.0004 s is not "none": durations are counted in whole milliseconds).
    def duration_ms(value, what)
      return Native::DURATION_NONE if value == :never
      raise TypeError, "#{what} must be seconds (Numeric) or :never, not #{value.inspect}" unless value.is_a?(Numeric)
      raise InvalidArgument, "#{what} is #{value} seconds: not a finite number" unless finite?(value)
      raise InvalidArgument, "#{what} is negative (use :never for none)" if value.negative?

      # To the microsecond first, as Python's timedelta holds a duration (1.0005 s is 1000500 us,
      # 1001 ms, where 1.0005 * 1000 is 1000.49999... as a Float).
      ms = ((value * 1_000_000).round(half: :even) + 500).div(1000)
      if ms.zero? && value.positive?
        raise InvalidArgument, "#{what} is #{value} seconds, under half a millisecond: durations are counted " \
                               "in whole milliseconds"
      end

      Native.int64(ms, what)
    end

    # Unix milliseconds (an int64_t) of a Time, floored to the millisecond (as the store's clock
    # counts), or of an Integer of milliseconds.
    def instant_ms(value, what)
      ms = case value
           when Time then (value.to_r * 1000).floor
           when Integer then value
           else raise TypeError, "#{what} must be a Time or Integer Unix milliseconds, not #{value.inspect}"
           end
      Native.integer(ms, what, Native::INT64_RANGE, "int64_t of Unix milliseconds")
    end

    # Whether a Numeric is finite (Float::INFINITY and NaN are not).
    def finite?(value)
      !value.respond_to?(:finite?) || value.finite?
    end

    # Seconds of a duration in milliseconds: an Integer when whole, else an exact Rational.
    def seconds(ms)
      (ms % 1000).zero? ? ms / 1000 : Rational(ms, 1000)
    end

    # The UTC Time of Unix milliseconds (exact).
    def time_of(ms)
      Time.at(Rational(ms, 1000)).utc
    end
  end
end
