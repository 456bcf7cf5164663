/*
 * _pystate_chunks.h (part of _pystate.h): the pool of data-stack chunks, the memory the frames
 * of new greenlets live in from CPython 3.11 on.
 */
#ifndef GREENLET_PYSTATE_CHUNKS_H
#define GREENLET_PYSTATE_CHUNKS_H

/* Root chunks of the interpreter's data stack (the memory Python frames live in, 3.11 and
 * newer) for the greenlets a thread starts. CPython would map a fresh 16 KiB chunk for each new
 * greenlet at its first call, and unmap it when the greenlet ends; here the chunks are carved
 * from larger mappings and finished greenlets' chunks are kept for the next ones, so starting a
 * greenlet makes no system call. Chunks beyond the kept ones are unmapped one by one.
 * Windows releases only whole allocations (VirtualFree), so there each mapping is one chunk,
 * taken from the interpreter's arena allocator (VirtualAlloc, as for its own chunks). */
#define PYSTATE_CHUNK_BYTES (16 * 1024)
#define PYSTATE_CHUNKS_KEPT 16
#if GREENLET_PY311 && defined(_WIN32)
#  define PYSTATE_CHUNKS_PER_MAP 1
static void *
pystate_map(size_t bytes)
{
    PyObjectArenaAllocator allocator;
    PyObject_GetArenaAllocator(&allocator);
    return allocator.alloc(allocator.ctx, bytes);
}
static void
pystate_unmap(void *memory, size_t bytes)
{
    PyObjectArenaAllocator allocator;
    PyObject_GetArenaAllocator(&allocator);
    allocator.free(allocator.ctx, memory, bytes);
}
#elif GREENLET_PY311
#  include <sys/mman.h>
#  define PYSTATE_CHUNKS_PER_MAP 64
static void *
pystate_map(size_t bytes)
{
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return memory == MAP_FAILED ? NULL : memory;
}
static void
pystate_unmap(void *memory, size_t bytes)
{
    munmap(memory, bytes);
}
#endif
typedef struct pystate_chunks {
#if GREENLET_PY311
    _PyStackChunk *free[PYSTATE_CHUNKS_KEPT];
    char *fresh;                        /* the never used rest of the latest mapping */
    size_t fresh_count;                 /* chunks there */
#endif
    int count;
} pystate_chunks;

#if GREENLET_PY311
/* A chunk the interpreter allocated (with its arena allocator, as it frees its own). */
static void
pystate_free_interpreter_chunk(_PyStackChunk *chunk)
{
    PyObjectArenaAllocator allocator;
    PyObject_GetArenaAllocator(&allocator);
    if (allocator.free != NULL) {
        allocator.free(allocator.ctx, chunk, chunk->size);
    }
}

/* Gives back one of our root chunks: kept for the next greenlet, or unmapped. `chunks` is the
 * cache of the thread it belongs to, or NULL from another thread or after that thread ended. */
static void
pystate_chunk_give(pystate_chunks *chunks, _PyStackChunk *chunk)
{
    if (chunks != NULL && chunks->count < PYSTATE_CHUNKS_KEPT) {
        chunks->free[chunks->count++] = chunk;
    }
    else {
        pystate_unmap(chunk, PYSTATE_CHUNK_BYTES);
    }
}

/* One of our root chunks, or NULL when no memory can be mapped. */
static _PyStackChunk *
pystate_chunk_take(pystate_chunks *chunks)
{
    if (chunks->count > 0) {
        return chunks->free[--chunks->count];
    }
    if (chunks->fresh_count == 0) {
        void *memory = pystate_map((size_t)PYSTATE_CHUNK_BYTES * PYSTATE_CHUNKS_PER_MAP);
        if (memory == NULL) {
            return NULL;
        }
        chunks->fresh = memory;
        chunks->fresh_count = PYSTATE_CHUNKS_PER_MAP;
    }
    _PyStackChunk *chunk = (_PyStackChunk *)chunks->fresh;
    chunks->fresh += PYSTATE_CHUNK_BYTES;
    chunks->fresh_count--;
    return chunk;
}

/* Frees a greenlet's chain of chunks: `root` is ours, the others the interpreter's. */
static void
pystate_release_chunks(_PyStackChunk *chunk, _PyStackChunk *root, pystate_chunks *chunks)
{
    while (chunk != NULL) {
        _PyStackChunk *previous = chunk->previous;
        if (chunk == root) {
            pystate_chunk_give(chunks, chunk);
        }
        else {
            pystate_free_interpreter_chunk(chunk);
        }
        chunk = previous;
    }
}
#endif

static void
pystate_chunks_clear(pystate_chunks *chunks)
{
#if GREENLET_PY311
    while (chunks->count > 0) {
        pystate_unmap(chunks->free[--chunks->count], PYSTATE_CHUNK_BYTES);
    }
    if (chunks->fresh_count > 0) {
        pystate_unmap(chunks->fresh, (size_t)PYSTATE_CHUNK_BYTES * chunks->fresh_count);
        chunks->fresh = NULL;
        chunks->fresh_count = 0;
    }
#else
    (void)chunks;
#endif
}

#endif /* GREENLET_PYSTATE_CHUNKS_H */
