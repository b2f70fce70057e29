using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Ckptmpi.Conversion.Planning;

/// <summary>
/// Writes values in <see cref="BinaryWriter"/>'s encoding (little-endian numbers, one byte per bool, strings as a 7-bit
/// length and UTF-8) straight into a buffer that feeds a hash in 64 KiB blocks. Same bytes as a BinaryWriter over a
/// buffered hash stream, without a virtual stream call per value: a 405B plan writes millions of values, and those calls
/// were most of the hash's time. It has every primitive overload BinaryWriter has, so a call binds to the same encoding.
/// </summary>
internal sealed class HashWriter(IncrementalHash hash)
{
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _used;

    private Span<byte> Take(int n)
    {
        if (_used + n > _buffer.Length) Flush();
        Span<byte> s = _buffer.AsSpan(_used, n);
        _used += n;
        return s;
    }

    public void Flush()
    {
        hash.AppendData(_buffer, 0, _used);
        _used = 0;
    }

    public void Write(bool v) => Take(1)[0] = v ? (byte)1 : (byte)0;
    public void Write(byte v) => Take(1)[0] = v;
    public void Write(sbyte v) => Take(1)[0] = (byte)v;
    public void Write(short v) => BinaryPrimitives.WriteInt16LittleEndian(Take(2), v);
    public void Write(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);
    public void Write(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);
    public void Write(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);
    public void Write(long v) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), v);
    public void Write(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), v);
    public void Write(float v) => BinaryPrimitives.WriteSingleLittleEndian(Take(4), v);
    public void Write(double v) => BinaryPrimitives.WriteDoubleLittleEndian(Take(8), v);

    public void Write(byte[] bytes) => Write(bytes.AsSpan());

    public void Write(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > _buffer.Length - _used)
        {
            Flush();
            if (bytes.Length > _buffer.Length) { hash.AppendData(bytes); return; }
        }
        bytes.CopyTo(_buffer.AsSpan(_used));
        _used += bytes.Length;
    }

    public void Write(string s)
    {
        int length = Encoding.UTF8.GetByteCount(s);
        uint n = (uint)length;
        while (n >= 0x80) { Write((byte)(n | 0x80)); n >>= 7; }
        Write((byte)n);
        if (length <= 256)
        {
            Encoding.UTF8.GetBytes(s, Take(length));
            return;
        }
        Write(Encoding.UTF8.GetBytes(s));
    }
}
