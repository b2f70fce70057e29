using Ckptmpi.Errors;
using Ckptmpi.Model;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.Safetensors;

/// <summary>
/// Tensors a checkpoint stores that transformers ignores when it loads the model, left out of the source as it does:
/// buffers of older exports (rotary <c>inv_freq</c>, GPT-2's <c>attn.bias</c> masks), which are no parameters, and, in a
/// tied model (config.json <c>tie_word_embeddings</c>), a stored copy of the output head, once it is proven to be the
/// embedding byte for byte: a different head would mean the weights were trained untied, and dropping it would lose them.
/// </summary>
public static class IgnoredTensors
{
    private const int ChunkBytes = 4 << 20;

    /// <summary>
    /// <paramref name="catalog"/> without the tensors the model family of <paramref name="configPath"/> calls buffers and
    /// without a stored tied head equal to the embedding (one info line names what was left out); unchanged for a family we
    /// do not know. Reads the head's and the embedding's bytes when both are stored.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The stored tied head differs from the embedding (dtype, shape or values).</exception>
    public static SourceCatalog Drop(SourceCatalog catalog, string configPath)
    {
        ModelConfig config;
        try { config = ModelConfig.Load(configPath); }
        catch (UnsupportedCheckpointException) { return catalog; }
        var dropped = catalog.Tensors.Where(t => config.Family.IsBuffer(t.Name)).Select(t => t.Name).ToList();
        if (dropped.Count > 0)
            Serilog.Log.Information("ignored {Count} buffer tensor(s) that transformers does not load either: {Names}", dropped.Count, string.Join(", ", dropped.Take(5)) + (dropped.Count > 5 ? ", ..." : ""));
        if (config.Tied is TiedWeights tied && catalog.Contains(tied.Head) && catalog.Contains(tied.Embedding))
        {
            CheckCopy(catalog, tied, configPath);
            Serilog.Log.Information("ignored '{Head}': the model ties it to '{Embedding}' and the stored copy equals it byte for byte (transformers ignores it too)", tied.Head, tied.Embedding);
            dropped.Add(tied.Head);
        }
        if (dropped.Count == 0) return catalog;
        var drop = new HashSet<string>(dropped, StringComparer.Ordinal);
        return new SourceCatalog(catalog.Root, catalog.Tensors.Where(t => !drop.Contains(t.Name)).ToList());
    }

    private static void CheckCopy(SourceCatalog catalog, TiedWeights tied, string configPath)
    {
        SourceTensor head = catalog[tied.Head], embed = catalog[tied.Embedding];
        string? difference = head.DType != embed.DType ? $"dtype {head.DType} vs {embed.DType}"
            : !head.Shape.SequenceEqual(embed.Shape) ? $"shape [{string.Join(", ", head.Shape)}] vs [{string.Join(", ", embed.Shape)}]"
            : !head.Pieces.All(p => p.IsFlat) || !embed.Pieces.All(p => p.IsFlat) ? "storage layouts (one is a strided view, which is compared only as a plain copy)"
            : SameBytes(catalog.Root, head, embed) ? null : "values";
        if (difference is not null)
            throw new CheckpointFormatException(catalog.Root, null,
                $"config.json {configPath} ties '{tied.Head}' to '{tied.Embedding}', but the checkpoint stores a different '{tied.Head}' ({difference} differ): "
                + "transformers would ignore it and use the embedding. Set tie_word_embeddings to false if the model was trained untied", tied.Head);
    }

    private static bool SameBytes(string root, SourceTensor a, SourceTensor b)
    {
        using var ra = new PieceStream(root, a);
        using var rb = new PieceStream(root, b);
        var bufA = new byte[ChunkBytes];
        var bufB = new byte[ChunkBytes];
        while (true)
        {
            int na = ra.Fill(bufA), nb = rb.Fill(bufB);
            if (na != nb) return false;
            if (na == 0) return true;
            if (!bufA.AsSpan(0, na).SequenceEqual(bufB.AsSpan(0, nb))) return false;
        }
    }

    /// <summary>The stored bytes of one tensor, piece after piece, in chunks.</summary>
    private sealed class PieceStream(string root, SourceTensor tensor) : IDisposable
    {
        private int _piece;
        private long _done;
        private FileStream? _file;
        private readonly IReadOnlyList<SourcePiece> _pieces = tensor.Pieces.OrderBy(p => p.FirstElement).ToList();

        /// <summary>Fills <paramref name="buffer"/> unless the tensor ends first; returns the bytes read (0 at the end).</summary>
        public int Fill(byte[] buffer)
        {
            int total = 0, n;
            while (total < buffer.Length && (n = Read(buffer.AsSpan(total))) > 0) total += n;
            return total;
        }

        private int Read(Span<byte> buffer)
        {
            while (_piece < _pieces.Count)
            {
                SourcePiece p = _pieces[_piece];
                long length = p.Bytes.Length;
                if (_done == length) { _piece++; _done = 0; _file?.Dispose(); _file = null; continue; }
                _file ??= new FileStream(Path.Combine(root, p.File), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                _file.Position = p.ByteOffset + _done;
                int want = (int)Math.Min(buffer.Length, length - _done);
                _file.ReadExactly(buffer[..want]);
                _done += want;
                return want;
            }
            return 0;
        }

        public void Dispose() => _file?.Dispose();
    }
}
