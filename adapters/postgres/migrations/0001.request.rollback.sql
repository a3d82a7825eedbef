-- Undoes 0001.request: the request table and everything in it.
DROP TABLE request;
