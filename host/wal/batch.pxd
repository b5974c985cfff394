# Types for the compiled build of batch.py (Cython, pure-Python mode); the .py is the source.
# What is typed is the batch encoder's: its buffer, offsets and the layout tables as C bytes.
# Command and event fields stay Python objects until `_put` has checked them into C integers.
# distutils: libraries = z
cimport cython

ctypedef unsigned long long u64
ctypedef unsigned char *byte_out
ctypedef const unsigned char *byte_in

cdef bint _COMPILED
cdef Py_ssize_t _STRIDE, _HEADER_BYTES, _TRAILER_BYTES, _ORIGIN_SIZE, _ORIGIN_CODE
cdef Py_ssize_t _AT_LENGTH, _W_LENGTH, _AT_SEQ, _W_SEQ, _AT_TS, _W_TS, _AT_KIND, _W_KIND, _W_CRC
cdef Py_ssize_t _AT_PROTOCOL, _W_PROTOCOL, _AT_ORIGIN_LENGTH, _W_ORIGIN_LENGTH
cdef bytes _COMMAND_LAYOUT, _EVENT_LAYOUT
cdef object _index, _crc32, _NOT_A_FIELD

# The compiled form's CRC: zlib's own crc32 (as zlib.crc32 computes it), on the buffer.
cdef extern from "zlib.h":
    unsigned long _zlib_crc32 "crc32" (unsigned long crc, byte_in data, unsigned int length) nogil

cdef inline void _store(byte_out out, Py_ssize_t at, u64 number, Py_ssize_t width) noexcept

@cython.locals(number=u64)
cdef int _put(byte_out out, Py_ssize_t at, object value, Py_ssize_t width) except -1

cdef int _put_header(byte_out out, Py_ssize_t at, Py_ssize_t length, seq, ts,
                     Py_ssize_t kind) except -1

cdef tuple _as_record(record, what)

@cython.locals(code=Py_ssize_t)
cdef Py_ssize_t _message_size(tuple record, byte_in layout, what) except -1

@cython.locals(code=Py_ssize_t, base=Py_ssize_t, index=Py_ssize_t, width=Py_ssize_t)
cdef Py_ssize_t _put_message(byte_out out, Py_ssize_t at, tuple record, byte_in layout) except -1


@cython.final
cdef class RecordBatch:
    cdef bytearray data
    cdef object view
    cdef readonly Py_ssize_t chunk, size, end, commands
    cdef readonly object first_seq, last_seq
    cdef object _open_seq, _open_ts, _chunk_first
    cdef Py_ssize_t _chunk_start, _chunk_commands
    cdef list _marks

    @cython.locals(extra=Py_ssize_t, size=Py_ssize_t, start=Py_ssize_t, at=Py_ssize_t,
                   index=Py_ssize_t, out=byte_out, source=byte_in)
    cpdef add_input(self, seq, ts, command, origin=*)

    @cython.locals(payload=Py_ssize_t, start=Py_ssize_t, at=Py_ssize_t, out=byte_out,
                   records=list)
    cpdef add_output(self, events)

    cdef int _reserve(self, Py_ssize_t need) except -1
    @cython.locals(out=byte_out)
    cdef int _close_record(self, Py_ssize_t start, Py_ssize_t at) except -1
    cdef _add_record(self, record)
    cdef _complete(self, first_seq, last_seq, Py_ssize_t count)
    cdef _seal(self)
