using System.Buffers.Binary;
using Ckptmpi.Tensors;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// Megatron pads the vocabulary to a multiple of make_vocab_size_divisible_by x tp; the HF tensors drop those rows.
/// Megatron-DeepSpeed's own HF converter fills them with the mean of the real rows (a universal checkpoint load, with
/// zeros): then they are all one vector and dropping them loses nothing. Rows that differ from each other carry
/// trained values (an LM head's padded logits get gradients), which is worth a warning. Only the padded rows are
/// read: at most (multiple - 1) rows of the hidden size.
/// </summary>
internal static class VocabPadding
{
    /// <summary>Null when the padded rows are zero or all one vector; else what is wrong with them.</summary>
    public static string? Check(MegaDsModel m, LocalShard[] shards, string tagDir)
    {
        long rows = m.PaddedVocab / m.Tp, h = m.Hidden;
        float[]? first = null;
        bool allZero = true, allSame = true;
        long padded = 0;
        for (int t = 0; t < m.Tp; t++)
        {
            long real = HfFromMegaDs.RealRows(m, t);
            if (real == rows) continue;
            long before = padded * h;
            padded += rows - real;
            foreach (var (rel, count, file, offset, stored) in shards[t].Slice(real * h, (rows - real) * h))
            {
                float[] values = Read(Path.Combine(tagDir, file), offset, count, stored);
                for (long i = 0; i < count; i++)
                {
                    long at = before + rel + i, col = at % h;
                    float v = values[i];
                    if (v != 0) allZero = false;
                    first ??= new float[h];
                    if (at < h) first[col] = v;
                    else if (BitConverter.SingleToInt32Bits(first[col]) != BitConverter.SingleToInt32Bits(v)) allSame = false;
                }
            }
        }
        if (padded == 0 || allZero || allSame) return null;
        return $"its {padded} padded vocabulary rows (beyond {m.Vocab}) are neither zero nor one repeated vector (they were trained); they are dropped";
    }

    private static float[] Read(string path, long offset, long count, DType stored)
    {
        int size = stored.SizeInBytes();
        var bytes = new byte[checked(count * size)];
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
        {
            fs.Position = offset;
            fs.ReadExactly(bytes);
        }
        var values = new float[count];
        for (long i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> b = bytes.AsSpan((int)(i * size), size);
            values[i] = stored switch
            {
                DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(b),
                DType.BF16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
                DType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(b),
                _ => throw new Errors.UnsupportedCheckpointException(path, $"vocabulary rows stored as {stored}"),
            };
        }
        return values;
    }
}
