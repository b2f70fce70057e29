using Ckptmpi.Parallel;

namespace Ckptmpi.Tests.Parallel;

public sealed class MpiOptionsTests
{
    private static MpiOptions From(params (string Name, string Value)[] vars)
    {
        var env = vars.ToDictionary(v => v.Name, v => v.Value);
        return MpiOptions.FromEnvironment(name => env.GetValueOrDefault(name));
    }

    [Test]
    public void Defaults_are_auto_mode_one_GiB_chunks_and_int_counts_with_large_count_calls()
    {
        MpiOptions o = From();
        Assert.That((o.Mode, o.Library, o.ChunkBytes, o.IntLimit, o.UseLargeCount), Is.EqualTo((RunMode.Auto, (string?)null, 1L << 30, (long)int.MaxValue, true)));
    }

    [Test]
    public void Every_variable_is_read()
    {
        MpiOptions o = From(("CKPTMPI_MPI", "on"), ("CKPTMPI_MPI_LIB", "/opt/cray/lib-abi-mpich/libmpi.so.12"),
                            ("CKPTMPI_MPI_CHUNK_BYTES", "4096"), ("CKPTMPI_MPI_INT_LIMIT", "1000"), ("CKPTMPI_MPI_LARGE_COUNT", "off"));
        Assert.That((o.Mode, o.Library, o.ChunkBytes, o.IntLimit, o.UseLargeCount),
            Is.EqualTo((RunMode.On, (string?)"/opt/cray/lib-abi-mpich/libmpi.so.12", 4096L, 1000L, false)));
    }

    [TestCase("CKPTMPI_MPI", "maybe")]
    [TestCase("CKPTMPI_MPI_CHUNK_BYTES", "0")]
    [TestCase("CKPTMPI_MPI_CHUNK_BYTES", "4294967296")]
    [TestCase("CKPTMPI_MPI_INT_LIMIT", "lots")]
    [TestCase("CKPTMPI_MPI_LARGE_COUNT", "sometimes")]
    public void A_value_that_is_not_understood_names_the_variable(string name, string value)
    {
        Assert.That(() => From((name, value)), Throws.ArgumentException.With.Message.StartsWith($"{name}={value}"));
    }
}
