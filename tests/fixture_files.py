"""Tiny hand-written fixtures of every dataset layout the importers read, with malformed rows
at known lines. Written to a temporary directory by ``write_fixtures``: the repository tracks no
file named like a real dataset, and no row here comes from one (ids and times are invented)."""

from __future__ import annotations

from pathlib import Path

# path -> (encoding, content); MovieLens 100K items and 1M movies are latin-1 like the originals.
FILES: dict[str, tuple[str, str]] = {
    "kaggle/keywords.csv": ("utf-8", "id,keywords\r\n9909,\"[{'id': 1, 'name': 'teacher'}]\"\r\n"),
    "kaggle/links_small.csv": (
        "utf-8",
        "movieId,imdbId,tmdbId\r\n31,0112792,9909\r\n1029,0033563,11360\r\n1030,0076054,\r\n",
    ),
    "kaggle/movies_metadata.csv": (
        "utf-8",
        "adult,belongs_to_collection,budget,genres,homepage,id,imdb_id,original_language,original_title,overview,popularity,poster_path,production_companies,production_countries,release_date,revenue,runtime,spoken_languages,status,tagline,title,video,vote_average,vote_count\nFalse,,0,\"[{'id': 18, 'name': 'Drama'}]\",,9909,tt0112792,en,Dangerous Minds,\"Former Marine Louanne Johnson lands a gig teaching in a pretty rough neighborhood.\nA second line of the overview.\",8.0,/x.jpg,[],[],1995-08-11,0,99.0,[],Released,,Dangerous Minds,False,6.4,249\nFalse,,0,\"[{'id': 16, 'name': 'Animation'}, {'id': 10751, 'name': 'Family'}]\",,11360,tt0033563,en,Dumbo,A young elephant is ridiculed for his big ears.,10.5,/y.jpg,[],[],1941-10-23,0,64.0,[],Released,,Dumbo,False,6.8,1206\n - Written by Ørnås,/ff9qCepilowshEtG2GYWwzt2bs4.jpg,\"[{'name': 'Carousel Productions', 'id': 11176}]\",,,1997-08-20,0,104.0,[],Released,,Midnight Man,False,6.0,1,,,,,,,,,\n",
    ),
    "kaggle/ratings_small.csv": (
        "utf-8",
        "userId,movieId,rating,timestamp\r\n1,31,2.5,1260882601\r\n1,1029,3.0,1260882636\r\n7,31,3.0,851992207\r\n",
    ),
    "ml-100k/u.data": (
        "utf-8",
        "1\t1\t5\t875089215\n1\t2\t3\t877016628\n2\t1\t4\t878666417\n2\t3\t1\t877016576\nbad line\n3\t2\t7\t889875169\n3\t3\t2\t888674328\n",
    ),
    "ml-100k/u.genre": (
        "utf-8",
        "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\nDocumentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\nRomance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n",
    ),
    "ml-100k/u.item": (
        "latin-1",
        "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n2|GoldenEye (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?GoldenEye%20(1995)|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n3|Cinéma Paradiso|01-Jan-1988||http://us.imdb.com/M/title-exact?Nuovo%20cinema%20Paradiso%20(1988)|0|0|0|0|0|1|0|0|1|0|0|0|0|0|1|0|0|0|0\n",
    ),
    "ml-100k/u1.base": ("utf-8", "1\t1\t5\t875089215\n2\t3\t1\t877016576\n"),
    "ml-100k/u1.test": ("utf-8", "2\t1\t4\t878666417\n"),
    "ml-10m/movies.dat": (
        "utf-8",
        "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime|Thriller\n",
    ),
    "ml-10m/ratings.dat": (
        "utf-8",
        "1::122::5::839108503\n1::185::4.5::839106982\n2::122::0.5::868369234\n",
    ),
    "ml-10m/tags.dat": (
        "utf-8",
        "15::185::computer::1138661227\n20::185::hacking::1138661228\n20::122::::1138661229\n",
    ),
    "ml-1m/movies.dat": (
        "latin-1",
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n3408::Amélie (2001)::Comedy|Romance\n",
    ),
    "ml-1m/ratings.dat": (
        "utf-8",
        "1::1193::5::978424217\n1::661::3::978425566\n2::1193::4::978421870\n2::661::x::978422457\n2::3408::4::978422457::extra\n6::3408::4::978360266\n",
    ),
    "ml-latest/links.csv": (
        "utf-8",
        "movieId,imdbId,tmdbId\r\n1,0114709,862\r\n2,0112346,9087\r\n3,0081846,\r\n193609,0101726,37891\r\n",
    ),
    "ml-latest/movies.csv": (
        "utf-8",
        'movieId,title,genres\r\n1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n2,"American President, The (1995)",Comedy|Drama|Romance\r\n3,Cosmos,(no genres listed)\r\n193609,Andrew Dice Clay: Dice Rules (1991),Comedy\r\n',
    ),
    "ml-latest/ratings.csv": (
        "utf-8",
        "userId,movieId,rating,timestamp\r\n1,1,4.0,965106160\r\n1,3,4.5,965104704\r\n2,1,2.5,1445838292\r\n2,2,6.0,1445838293\r\n3,3,3.5,1306587035\r\n3,193609,5.0,1306587036\r\n",
    ),
    "ml-latest/tags.csv": (
        "utf-8",
        "userId,movieId,tag,timestamp\r\n2,1,pixar,1445838451\r\n3,1,pixar,1445838453\r\n2,2,politics,1445838452\r\n",
    ),
    "netflix/combined_data_1.txt": (
        "utf-8",
        "1:\n100001,3,2005-09-07\n100002,5,2005-05-14\n2:\n100001,4,2005-04-20\n100003,9,2005-10-20\n100003,4,not-a-date\n",
    ),
    "netflix/combined_data_2.txt": ("utf-8", "3:\n100002,2,2004-07-11\n"),
    "netflix/movie_titles.csv": (
        "utf-8",
        "1,2003,Dinosaur Planet\n2,2004,Isle of Man TT 2004 Review\n3,NULL,Character, The Movie\n",
    ),
}


def write_fixtures(directory: Path) -> Path:
    """Write every fixture file below ``directory``; returns it."""
    for relative, (encoding, content) in FILES.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode(encoding))
    return directory
