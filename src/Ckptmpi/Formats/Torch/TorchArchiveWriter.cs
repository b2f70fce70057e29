using System.Buffers.Binary;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Checksums;

namespace Ckptmpi.Formats.Torch;

/// <summary>
/// A small sequential writer over <see cref="TorchArchiveLayout.Plan"/> for tests and small files: writes the
/// literals, streams each storage's bytes from a callback (checking the count), then patches the CRC-32s. The
/// conversion engine does not use this; it executes the plan's <see cref="Tensors.Layout.OutputFile"/> in parallel.
/// </summary>
public static class TorchArchiveWriter
{
    /// <summary>Writes <paramref name="root"/> to <paramref name="path"/>; <paramref name="writeStorage"/> writes exactly <see cref="TorchStorage.ByteLength"/> bytes of each storage.</summary>
    /// <exception cref="InvalidOperationException">A callback wrote the wrong number of bytes.</exception>
    public static TorchArchivePlan Write(string path, PyValue root, Action<TorchStorage, Stream> writeStorage, string? archiveName = null)
    {
        TorchArchivePlan plan = TorchArchiveLayout.Plan(root, archiveName ?? TorchArchiveLayout.ArchiveNameFor(path));
        using var file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        WriteTo(file, plan, writeStorage);
        return plan;
    }

    /// <summary>Writes to <paramref name="path"/> with each storage's bytes given as a whole.</summary>
    public static TorchArchivePlan Write(string path, PyValue root, Func<TorchStorage, ReadOnlyMemory<byte>> storageBytes, string? archiveName = null) =>
        Write(path, root, (s, stream) => stream.Write(storageBytes(s).Span), archiveName);

    /// <summary>The whole file in memory (tests, fuzzing).</summary>
    public static byte[] ToBytes(PyValue root, string archiveName, Func<TorchStorage, ReadOnlyMemory<byte>> storageBytes)
    {
        TorchArchivePlan plan = TorchArchiveLayout.Plan(root, archiveName);
        using var ms = new MemoryStream();
        WriteTo(ms, plan, (s, stream) => stream.Write(storageBytes(s).Span));
        return ms.ToArray();
    }

    /// <summary>Writes a planned archive to a seekable stream positioned at 0.</summary>
    public static void WriteTo(Stream output, TorchArchivePlan plan, Action<TorchStorage, Stream> writeStorage)
    {
        var crcByRange = new Dictionary<ByteRange, uint>();
        var byStart = plan.Storages.Where(s => s.ByteLength > 0).ToDictionary(s => plan.StorageData[s.Key].Start);
        long at = 0;
        int literal = 0;
        while (at < plan.Length)
        {
            if (literal < plan.Literals.Count && plan.Literals[literal].Offset == at)
            {
                output.Write(plan.Literals[literal].Bytes);
                at = plan.Literals[literal++].End;
                continue;
            }
            TorchStorage s = byStart[at];
            var counting = new CrcCountingStream(output);
            writeStorage(s, counting);
            if (counting.Count != s.ByteLength)
                throw new InvalidOperationException($"storage '{s.Key}' callback wrote {counting.Count} bytes, expected {s.ByteLength}");
            crcByRange[plan.StorageData[s.Key]] = counting.Crc;
            at += s.ByteLength;
        }
        Span<byte> crcBytes = stackalloc byte[sizeof(uint)];
        foreach (var field in plan.Crc)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(crcBytes, crcByRange[field.Covered]);
            foreach (long offset in field.WriteAt)
            {
                output.Position = offset;
                output.Write(crcBytes);
            }
        }
        output.Position = plan.Length;
        output.Flush();
    }

    /// <summary>Passes writes through while counting bytes and computing their CRC-32.</summary>
    private sealed class CrcCountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }
        public uint Crc { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Crc = Crc32.Append(Crc, buffer);
            Count += buffer.Length;
            inner.Write(buffer);
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Count;
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
