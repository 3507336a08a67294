# frozen_string_literal: true

module Tessera
  # Durations are seconds (any Numeric, kept to the millisecond) or :never; instants are Time
  # (or Integer Unix milliseconds). These helpers convert them for the C ABI.
  module TimeUnits
    module_function

    # Milliseconds (an int64_t) for a duration in seconds; :never is TESSERA_DURATION_NONE (-1).
    # A negative duration is refused before it is rounded: -0.0004 s is not 0 ms.
    def duration_ms(value, what)
      return Native::DURATION_NONE if value == :never
      raise TypeError, "#{what} must be seconds (Numeric) or :never, not #{value.inspect}" unless value.is_a?(Numeric)
      raise InvalidArgument, "#{what} is #{value} seconds: not a finite number" unless finite?(value)
      raise InvalidArgument, "#{what} is negative (use :never for none)" if value.negative?

      Native.int64((value * 1000).round, what)
    end

    # Unix milliseconds (an int64_t) of a Time (or an Integer of milliseconds).
    def instant_ms(value, what)
      ms = case value
           when Time then (value.to_r * 1000).round
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
