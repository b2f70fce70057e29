namespace Ckptmpi.Conversion.Execution;

/// <summary>
/// Files in a directory that some checkpoint loader would pick up: weights, indexes, tag pointers and rank files of
/// every format ckptmpi knows. Used to refuse an <c>--overwrite</c> that would leave another tool's checkpoint
/// half-replaced. Looks two folders deep (DeepSpeed keeps rank files in the tag folder); links are not followed.
/// </summary>
internal static class LoaderFiles
{
    private static readonly string[] Extensions = [".safetensors", ".bin", ".pt", ".pth", ".ckpt"];

    private static readonly string[] Names =
        ["latest", "latest_universal", "latest_checkpointed_iteration.txt", "params.json", "_METADATA", "model.safetensors.index.json", "pytorch_model.bin.index.json",
         // Orbax's OCDBT index: its presence alone makes Orbax read the folder as OCDBT, whatever _METADATA says.
         "manifest.ocdbt"];

    public static IEnumerable<string> Find(string dir, int depth = 2)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = depth - 1, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true };
        return Directory.EnumerateFiles(dir, "*", options)
            .Where(f => Names.Contains(Path.GetFileName(f)) || Extensions.Contains(Path.GetExtension(f)))
            .Select(Path.GetFullPath)
            .Order(StringComparer.Ordinal);
    }
}
