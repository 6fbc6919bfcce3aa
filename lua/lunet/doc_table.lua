-- The documentation of what has no comment of its own for lunet.doc to
-- read: the core's C functions and Tensor methods, and objects made by
-- factories.  Keys are the names help() shows; the first line of each
-- text is its summary in member lists.
return {
}
