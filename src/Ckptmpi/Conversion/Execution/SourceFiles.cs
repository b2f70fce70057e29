using Ckptmpi.Tensors;

namespace Ckptmpi.Conversion.Execution;

/// <summary>The plan's source files, opened on first use (a rank opens only those it reads) and closed together.</summary>
internal sealed class SourceFiles(string root, IReadOnlyList<string> relativePaths) : IDisposable
{
    private readonly FileByteSource?[] _open = new FileByteSource?[relativePaths.Count];

    public IByteSource this[int index] => _open[index] ??= new FileByteSource(Path.Combine(root, relativePaths[index]));

    public void Dispose()
    {
        foreach (FileByteSource? s in _open) s?.Dispose();
        Array.Clear(_open);
    }
}
