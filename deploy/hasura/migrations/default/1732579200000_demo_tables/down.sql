DROP TABLE public.orders;
DROP TABLE public.inventory;
DROP TABLE public.users;
