using Ckptmpi.Conversion.Manifests;
using Ckptmpi.Errors;

namespace Ckptmpi.Conversion.Journal;

/// <summary>
/// Whether the inputs of a <c>--resume</c> are the ones the interrupted run read. The rule: the same set of files,
/// each with the same size, modification time, CRC-32 of its first 1 MiB and CRC-32 of 16 samples of 4 KiB spread
/// evenly over the rest (<see cref="InputFileFact"/>). A re-save changes the modification time; a copy that keeps
/// times but not values is caught where the samples fall. Hashing every byte would cost a full read of the model
/// before resuming, which is what resume exists to avoid.
/// </summary>
internal static class InputIdentity
{
    /// <exception cref="OutputExistsException">an input changed, appeared or disappeared; or the journal does not record its inputs.</exception>
    public static void RequireUnchanged(IReadOnlyList<InputFileFact>? then, IReadOnlyList<InputFileFact> now, string journalPlan)
    {
        if (then is null)
            throw new OutputExistsException(journalPlan, "the interrupted conversion did not record its inputs, so its pieces cannot be proven to match them; rerun with --overwrite to start again");
        var before = then.ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (InputFileFact f in now)
        {
            if (!before.Remove(f.Path, out InputFileFact? old))
                throw Changed(f.Path, "was not an input of the interrupted conversion");
            if (old.Size != f.Size) throw Changed(f.Path, $"was {old.Size} bytes and is now {f.Size}");
            if (old.ModifiedUtc != f.ModifiedUtc) throw Changed(f.Path, $"was modified at {old.ModifiedUtc:O} and is now modified at {f.ModifiedUtc:O}");
            if (old.HeaderChecksum != f.HeaderChecksum) throw Changed(f.Path, "has a different header (its first 1 MiB changed)");
            if (old.SampleChecksum != f.SampleChecksum) throw Changed(f.Path, "has different contents (sampled)");
        }
        if (before.Count > 0) throw Changed(before.Keys.First(), "was an input of the interrupted conversion but is not one now");
    }

    private static OutputExistsException Changed(string path, string what) =>
        new(path, $"--resume: this input {what}; the journaled pieces were computed from the old inputs and cannot be reused. Rerun with --overwrite to convert again");
}
